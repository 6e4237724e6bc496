# The Vividly pipeline image: workers, beat, Flower and the CLI.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/*

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
# Local storage, if used, lives where the vividly user may write (not /app/var).
ENV WORKDIR=/tmp/vividly-work \
    STORAGE_URL=file:///data/storage \
    ARCHIVE_URL=file:///data/archive
CMD ["vividly", "--help"]
