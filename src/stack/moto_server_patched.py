"""moto_server with one emulator bug fixed: SQS DeleteMessage racing SendMessage loses messages.

moto (5.1.22, and 5.2.5 still) deletes an SQS message by rebuilding the queue's message list
without the lock that SendMessage takes to append to it. The server is threaded, so a message
sent while another one is being deleted can be dropped from the queue (the rebuilt list replaces
the one it was appended to), and of two concurrent deletes one can come back to life. Measured on
an unpatched moto: 800 messages sent while 800 others were deleted in parallel batches left 797
and 791 (two runs), with 111 and 149 deleted ones back in flight. Real SQS loses nothing; tests
that send while the ingestion consumer deletes (test/ingest/simulated-load.test.ts, the ingestion
chaos test) lost readings to this. src/stack/components.ts startMoto runs moto through this file,
with Queue.delete_message under that same lock.

Run with moto's own interpreter: python moto_server_sqs_locked.py -H 127.0.0.1 -p PORT
"""

import functools
import inspect
import sys

from moto.server import main
from moto.sqs.models import Queue

_delete_message = Queue.delete_message
if "self._messages_lock" not in inspect.getsource(Queue.__init__):
    raise SystemExit("moto_server_sqs_locked: this moto has no Queue._messages_lock; review the patch")


@functools.wraps(_delete_message)
def _locked_delete_message(self, receipt_handle):
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


Queue.delete_message = _locked_delete_message
print("moto_server_sqs_locked: Queue.delete_message holds Queue._messages_lock", file=sys.stderr, flush=True)

if __name__ == "__main__":
    sys.exit(main())
