"""One module per input format: its ``parse`` (record -> events, or ``RecordRejected``) and its
``sniff`` (does ``--format auto`` give it this record?). The registry is ``ingest/formats.py``;
what a platform's records mean beyond their shape is in ``ingest/providers``."""
