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

RUN useradd --create-home --uid 1000 vividly && mkdir -p /data/storage /tmp/vividly-work \
    && chown -R vividly /data /tmp/vividly-work
USER vividly
ENV WORKDIR=/tmp/vividly-work
CMD ["vividly", "--help"]
