# nhi-evidence: one image for every role (ingest, worker, sink, query); compose.yaml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Every runtime dependency ships manylinux wheels (duckdb, pyarrow, orjson, aiokafka, faust-streaming),
# so the slim image needs no compiler.
COPY . .
RUN pip install . && rm -rf /src

# Not root: the sink writes /data, ingest only reads /incoming.
RUN useradd --create-home --uid 10001 nhi && mkdir -p /data /incoming && chown nhi /data
USER nhi
WORKDIR /data

CMD ["nhi", "--help"]
