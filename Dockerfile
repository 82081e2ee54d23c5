# GPU image for training and for parity checks against the NPU (docs/devices.md: "GPU in Docker").
#   docker build -t splitgan-keras .
#   docker run --gpus all --rm -v "$PWD/runs:/opt/splitgan-keras/runs" splitgan-keras \
#       --device gpu --config configs/quickstart.json
# The entry point is train.py; for eval.py: docker run ... --entrypoint python splitgan-keras eval.py ...
ARG BASE_IMAGE=tensorflow/tensorflow:2.15.0-gpu
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=1
WORKDIR /opt/splitgan-keras
# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY requirements ./requirements
RUN mkdir splitgan_keras && touch splitgan_keras/__init__.py \
 && python -m pip install -c requirements/docker-gpu.txt -e ".[test]" \
 && python -c "import tensorflow as tf, tensorflow_gan, sklearn; print('TF', tf.__version__)"
COPY . .
# Mount a volume on runs/ to keep what a run writes; mount data sets anywhere and pass --data-dir.
ENTRYPOINT ["python", "train.py"]
CMD ["--help"]
