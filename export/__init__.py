"""ONNX export (``onnx_export``, ``graphs``) and a torch-free host example
(``host_example``). Nothing is imported here, so ``python -m
dreambridge.export.host_example`` never loads torch."""

__all__: list[str] = []
