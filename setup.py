"""alphaction: finetune SlowFast video models for spatio-temporal action detection. Pure Python, no build step."""

from setuptools import find_packages, setup

with open("requirements.txt", encoding="utf-8") as f:
    requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="alphaction",
    version="0.1.0",
    description="Finetune SlowFast action detectors (AVA-style) on CPU or many GPUs",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.10",
    packages=find_packages(include=["alphaction", "alphaction.*"]),
    install_requires=requirements,
    # pytorchvideo (with fvcore, iopath) is the reference SlowFast of the checkpoint-conversion tests only
    # onnx / onnxruntime: tools/export.py --format onnx and its check (TorchScript export needs neither)
    extras_require={
        "test": [
            "pytest>=7",
            "pytorchvideo==0.1.5",
            "fvcore",
            "iopath",
            "parameterized",
            "hypothesis>=6",
            "ruff==0.17.6",
        ],
        "export": ["onnx", "onnxruntime"],
    },
)
