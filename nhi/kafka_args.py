"""Arguments every Kafka command shares (ingest, sink, worker, run): where the brokers and topics are."""

from __future__ import annotations

import argparse

from transport.topics import Topics, topics_from_env


def add_kafka_arguments(p: argparse.ArgumentParser) -> None:
    """--bootstrap and --topic-prefix, shared by the Kafka commands."""
    p.add_argument(
        "--bootstrap",
        "-b",
        default=None,
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: $NHI_KAFKA_BOOTSTRAP)",
    )
    p.add_argument(
        "--topic-prefix",
        default=None,
        metavar="PREFIX",
        help="topic name prefix (default: $NHI_TOPIC_PREFIX or nhi.)",
    )


def topics_from(args: argparse.Namespace) -> Topics:
    topics = topics_from_env()
    if args.topic_prefix is not None:
        topics = Topics(prefix=args.topic_prefix, partitions=topics.partitions)
    return topics
