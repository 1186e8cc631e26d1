# contactplug: the command-line tools the Nextflow pipeline (nf/) runs in every task.
#
#   docker build -t contactplug:0.1.0 .                       # torch wheels with CUDA (large)
#   docker build -t contactplug:0.1.0-cpu \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .   # CPU only, smaller
#
# Then: nextflow run nf/main.nf -profile docker[,gpu]   (the modules name contactplug:<version>)
# Apptainer: apptainer build contactplug.sif docker-daemon://contactplug:0.1.0
# (or containers/contactplug.def without docker). No model weights are baked in: pass
# --model PATH, or let a task download a named model into its torch hub cache.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://pypi.org/simple

# procps: Nextflow reads task CPU and memory use with ps
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/contactplug
COPY pyproject.toml README.md ./
COPY src ./src
COPY bin/contactplug-structure /usr/local/bin/contactplug-structure

RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch>=2.6" \
    && pip install --no-cache-dir ".[hf]" \
    && chmod 755 /usr/local/bin/contactplug-structure \
    && contactplug --version

ENV MPLBACKEND=Agg \
    PYTHONNOUSERSITE=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TORCH_HOME=/tmp/torch \
    CONTACTPLUG_CACHE=/tmp/contactplug \
    MPLCONFIGDIR=/tmp/matplotlib

CMD ["contactplug", "--help"]
