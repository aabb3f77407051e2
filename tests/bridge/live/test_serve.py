"""bridge/live/serve.py: the shared-memory layout and host parameters the plugin is built against."""


def test_plugin_header_matches_serve_layout():
    from dreambridge.bridge.live import serve
    from dreambridge.bridge.live.plugin import generate_header

    header = generate_header()
    for name, index in serve.HEADER.items():
        assert f"#define DB_H_{name} {index}\n" in header
    assert f"#define DB_PROTOCOL_VERSION {serve.PROTOCOL_VERSION}\n" in header
    params = serve.host_parameters()
    assert [p["symbol"] for p in params] == [*serve.HOST_PARAMS, "preset"]
    for p in params:
        assert p["min"] <= p["default"] <= p["max"], p
    assert params[-1]["choices"][0] == serve.ENGINE_PRESET and "dream" in params[-1]["choices"]
