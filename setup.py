from setuptools import find_packages, setup

# raw video -> features (video_lights.extract, video_lights.features); never torchvision
_VIDEO = ["av>=14,<19", "transformers>=5.0,<6", "safetensors>=0.4", "ftfy>=6.0", "huggingface_hub>=0.20"]

setup(
    name="video_lights",
    version="0.1.0",
    description="VideoLights: joint video moment retrieval and highlight detection (arXiv 2412.01558)",
    license="MIT",
    python_requires=">=3.10",  # torch 2.13 needs 3.10
    packages=find_packages(include=["video_lights", "video_lights.*", "standalone_eval", "standalone_eval.*"]),
    package_data={"video_lights": ["scripts/**/*.sh"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "h5py>=3.8",
        "tqdm>=4.64",
        "tensorboard>=2.12",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
    ],
    extras_require={
        "test": ["pytest>=7.0", "hypothesis>=6.0"],
        "video": _VIDEO,
        # the web demo (python -m video_lights.app): the video extra and Gradio
        "demo": _VIDEO + ["gradio>=6,<7"],
        # tests/test_app_browser.py drives the system's Chromium (never `playwright install`)
        "browser": ["playwright>=1.40"],
    },
)
