"""The one parser toolkit: what every format's parser reads records and builds events with.

- ``fields``: total accessors for untrusted decoded JSON (never raise on a wrong type);
- ``times``: the one timestamp and duration parser, with its rules documented there;
- ``build``: record ids, contexts and events, with contract violations turned into rejects.
"""
