# The Vividly pipeline image: workers, beat, Flower and the CLI.
FROM python:3.11-slim

# No system packages: the voice (Piper) and the encoder (PyAV) are Python wheels.
# SPEECH_PROVIDER=espeak would need `apt-get install espeak-ng` here.
WORKDIR /app
COPY pyproject.toml README.md ./
COPY db db
COPY migrations migrations
COPY pipeline pipeline
COPY workers workers
RUN pip install --no-cache-dir .

RUN useradd --create-home --uid 1000 vividly \
    && mkdir -p /data/storage /data/archive /tmp/vividly-work \
    && chown -R vividly /data /tmp/vividly-work
USER vividly
# The voice with its weights in a file of their own, made once here: every container of
# this image maps the same file of the image's layer (pipeline/providers/speech_piper.py).
RUN python -c "from pathlib import Path; from pipeline.providers.speech_piper import mapped_model; mapped_model(Path('/tmp/vividly-work/models'))"
# Local storage, if used, lives where the vividly user may write (not /app/var).
ENV WORKDIR=/tmp/vividly-work \
    STORAGE_URL=file:///data/storage \
    ARCHIVE_URL=file:///data/archive
CMD ["vividly", "--help"]
