"""A mail consumer written to the seed's contract (functions/contract/seed_test.go).

The original system's send_mail.py read topic `summary` with kafka-python and,
for every record, mailed each vendor of `ventas` (the seed's README: "el
resumen es almacenado en el topico summary en formato JSON", with `ventas` and
`fecha`). No CloudEvents SDK: the record's value is the summary's JSON.

MODE `seed` is that consumer unchanged: it takes every record of the topic as
a summary. MODE `filtered` is the same consumer with the one line the docs ask
of every reader of `summary`: skip records whose `ce_type` header is not
cl.sopaipillas.summary.created.v1 (the topic also carries cook reports).

Reads every partition from the beginning to the end offsets it finds at
start (no consumer group), and prints one JSON line per email it would send:
{"fecha", "vendedor", "n_sopaipillas", "n_ordenes"}; on the first record it
cannot read it dies as the seed's consumer did (a traceback, exit 1).

usage: seed_consumer.py BOOTSTRAP TOPIC seed|filtered
"""

import json
import sys

from kafka import KafkaConsumer, TopicPartition

SUMMARY_TYPE = b"cl.sopaipillas.summary.created.v1"


def main():
    bootstrap, topic, mode = sys.argv[1:4]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    if not parts:
        raise SystemExit(f"seed_consumer.py: no topic {topic!r}")
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)
    while any(consumer.position(p) < end[p] for p in parts):
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                if mode == "filtered" and dict(record.headers).get("ce_type") != SUMMARY_TYPE:
                    continue
                summary = json.loads(record.value)
                for vendedor, ventas in summary["ventas"].items():
                    print(json.dumps({"fecha": summary["fecha"], "vendedor": vendedor,
                                      "n_sopaipillas": ventas["n_sopaipillas"], "n_ordenes": ventas["n_ordenes"]}), flush=True)
    consumer.close()


if __name__ == "__main__":
    main()
