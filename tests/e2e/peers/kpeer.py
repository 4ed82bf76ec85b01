#!/usr/bin/env python3
"""Independent Kafka peer for notbrought's end-to-end tests.

Uses kafka-python (pure Python, no librdkafka), so it does not share a client library with
notbrought. Values and keys are UTF-8 text lines by default, or hex with --hex.

  kpeer.py produce  -b HOST:PORT -t TOPIC [--key-sep SEP] [--hex] [--transactional-id ID]
                    (one record per stdin line; with --key-sep, "key<SEP>value")
  kpeer.py consume  -b HOST:PORT -t TOPIC -n COUNT [--timeout S] [--read-committed]
                    [--print-key SEP] [--hex]
                    (prints one record per line; exit 1 if fewer than COUNT arrived in time;
                     reads all partitions from the beginning, no consumer group)

TLS: --cafile CA.pem [--certfile client.pem --keyfile client.key] (uses security_protocol SSL).
Exit status: 0 ok, 1 failure (message on stderr).
"""
import argparse
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def _tls(args):
    if not args.cafile:
        return {}
    kw = {"security_protocol": "SSL", "ssl_cafile": args.cafile}
    if args.certfile:
        kw["ssl_certfile"] = args.certfile
    if args.keyfile:
        kw["ssl_keyfile"] = args.keyfile
    return kw


def _dec(s, hexmode):
    return bytes.fromhex(s) if hexmode else s.encode("utf-8")


def _enc(b, hexmode):
    if b is None:
        return ""
    return b.hex() if hexmode else b.decode("utf-8", errors="backslashreplace")


def produce(args):
    kw = dict(bootstrap_servers=args.bootstrap, acks="all", **_tls(args))
    if args.transactional_id:
        kw.update(transactional_id=args.transactional_id, enable_idempotence=True)
    p = KafkaProducer(**kw)
    if args.transactional_id:
        p.init_transactions()
        p.begin_transaction()
    futures = []
    for line in sys.stdin:
        line = line.rstrip("\n")
        key = None
        if args.key_sep is not None:
            k, sep, v = line.partition(args.key_sep)
            if not sep:
                raise SystemExit(f"kpeer: line without key separator: {line!r}")
            key, line = _dec(k, args.hex), v
        futures.append(p.send(args.topic, key=key, value=_dec(line, args.hex)))
    p.flush(timeout=args.timeout)
    for f in futures:
        f.get(timeout=args.timeout)  # raises on any failed send
    if args.transactional_id:
        p.commit_transaction()
    p.close(timeout=args.timeout)
    print(f"kpeer: produced {len(futures)} records to {args.topic}", file=sys.stderr)


def consume(args):
    c = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if args.read_committed else "read_uncommitted",
        **_tls(args),
    )
    deadline = time.monotonic() + args.timeout
    parts = None
    while parts is None:
        parts = c.partitions_for_topic(args.topic)
        if parts is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"kpeer: topic {args.topic} not found")
            time.sleep(0.2)
    tps = [TopicPartition(args.topic, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = 0
    while got < args.count and time.monotonic() < deadline:
        batch = c.poll(timeout_ms=500)
        for tp in sorted(batch, key=lambda t: t.partition):
            for m in batch[tp]:
                if got >= args.count:
                    break
                v = _enc(m.value, args.hex)
                if args.print_key is not None:
                    v = _enc(m.key, args.hex) + args.print_key + v
                print(v, flush=True)
                got += 1
    c.close()
    if got < args.count:
        raise SystemExit(f"kpeer: got {got} of {args.count} records from {args.topic} in {args.timeout}s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("produce", "consume"):
        sp = sub.add_parser(name)
        sp.add_argument("-b", "--bootstrap", required=True)
        sp.add_argument("-t", "--topic", required=True)
        sp.add_argument("--timeout", type=float, default=30.0)
        sp.add_argument("--hex", action="store_true")
        sp.add_argument("--cafile")
        sp.add_argument("--certfile")
        sp.add_argument("--keyfile")
        if name == "produce":
            sp.add_argument("--key-sep")
            sp.add_argument("--transactional-id")
        else:
            sp.add_argument("-n", "--count", type=int, required=True)
            sp.add_argument("--read-committed", action="store_true")
            sp.add_argument("--print-key", metavar="SEP")
    args = ap.parse_args()
    (produce if args.cmd == "produce" else consume)(args)


if __name__ == "__main__":
    main()
