"""Taking messages from RQ's lists: a batch per round trip, in band order, within each queue's free slots.

One Lua script pops up to each queue's free slots from its lists in dequeue
order (every queue's high band, then normal, then low), marks each popped RQ
job ``started``, and deletes the RQ hashes of messages already claimed, whose
bookkeeping PostgreSQL holds: RQ's own per-job registries are never written,
and nothing is left behind. An RQ id carries its QueueJob id
(jobs.core.transport.new_rq_id), so the hash is never read. A message popped
but not claimed (the worker died) has its hash marked ``started``, so the
reconciler (jobs.plugins.reconciler) sends the job again. When nothing waits,
one ``BLMPOP`` blocks until a message comes, so an idle worker picks a job up
within a round trip; a worker killed in the milliseconds between that pop and
its claim leaves the hash ``queued`` (as RQ's own worker would).

The script names RQ job hashes it was not given as keys: fine for one Redis
server, not for Redis Cluster (RQ does not support Cluster either).
"""
from __future__ import annotations

from dataclasses import dataclass

from jobs.core.transport import BANDS, eval_script, job_id_of, redis_connection

RQ_JOB = "rq:job:"
RQ_QUEUE = "rq:queue:"

# KEYS: the lists, in dequeue order. ARGV: number of lists, then the queue number of each
# list, then the number of queues and each one's free slots, then RQ ids whose hash to delete.
_FETCH = """
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[n + 2])
local free = {}
for q = 1, m do free[q] = tonumber(ARGV[n + 2 + q]) end
for i = n + 3 + m, #ARGV do redis.call('DEL', 'rq:job:' .. ARGV[i]) end
local out = {}
for i = 1, n do
  local q = tonumber(ARGV[1 + i])
  if free[q] > 0 then
    local ids = redis.call('LPOP', KEYS[i], free[q])
    if ids then
      for _, id in ipairs(ids) do
        if redis.call('EXISTS', 'rq:job:' .. id) == 1 then
          redis.call('HSET', 'rq:job:' .. id, 'status', 'started')
        end
        out[#out + 1] = i
        out[#out + 1] = id
      end
      free[q] = free[q] - #ids
    end
  end
end
return out
"""


@dataclass(frozen=True)
class Message:
    rq_id: str
    #: The QueueJob it carries ('' for an RQ id of another format: nothing to claim, the reconciler
    #: hands the job over again).
    job_id: str
    #: The RQ list it was popped from, and its logical queue.
    list_key: str
    queue: str

    @classmethod
    def of(cls, rq_id: bytes, list_key: str, queue: str) -> Message:
        text = rq_id.decode()
        job_id = job_id_of(text)
        return cls(text, str(job_id) if job_id else "", list_key, queue)


def _lists(queues: list[str]) -> list[tuple[str, str]]:
    """(list key, queue) in dequeue order: every queue's high band first."""
    return [(f"{RQ_QUEUE}{queue}{suffix}", queue) for suffix, _ in BANDS for queue in queues]


class Fetcher:
    def __init__(self) -> None:
        self._claimed: list[str] = []  # RQ ids whose hash can go

    def done(self, rq_ids: list[str]) -> None:
        """These messages were claimed (or refused) in PostgreSQL: their RQ hashes can go."""
        self._claimed.extend(rq_ids)

    def fetch(self, free: dict[str, int]) -> list[Message]:
        """Pop up to ``free[queue]`` messages of each queue, without waiting."""
        queues = [queue for queue, n in free.items() if n > 0]
        if not queues:
            return []
        lists = _lists(queues)
        index = {queue: i + 1 for i, queue in enumerate(queues)}
        args = [len(lists), *(index[q] for _, q in lists), len(queues), *(free[q] for q in queues), *self._claimed]
        keys = [key for key, _ in lists]
        reply: list[bytes] = eval_script(_FETCH, keys, args)  # type: ignore[assignment]
        self._claimed = []
        return [Message.of(reply[i + 1], *lists[int(reply[i]) - 1]) for i in range(0, len(reply), 2)]

    def wait(self, free: dict[str, int], *, timeout: float) -> list[Message]:
        """Block up to ``timeout`` seconds for one message of a queue with a free slot."""
        queues = [queue for queue, n in free.items() if n > 0]
        if not queues:
            return []
        lists = dict(_lists(queues))
        keys = list(lists)
        client = redis_connection()
        with client.pipeline(transaction=False) as pipe:
            if self._claimed:
                pipe.delete(*(RQ_JOB + rq_id for rq_id in self._claimed))
            pipe.blmpop(timeout, len(keys), *keys, direction="LEFT", count=1)
            popped = pipe.execute()[-1]
        self._claimed = []
        if not popped:
            return []
        key = popped[0].decode()
        return [Message.of(popped[1][0], key, lists[key])]

    def put_back(self, messages: list[Message]) -> None:
        """Hand messages back to the front of their lists, in order (jobs over a global limit wait)."""
        client = redis_connection()
        with client.pipeline(transaction=False) as pipe:
            for message in reversed(messages):
                pipe.hset(RQ_JOB + message.rq_id, "status", "queued")
                pipe.lpush(message.list_key, message.rq_id)
            pipe.execute()
