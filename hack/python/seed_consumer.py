"""A mail consumer written to the seed's contract (functions/contract/seed_test.go).

The original system's send_mail.py read topic `summary` with kafka-python and,
for every record, mailed each vendor of `ventas` (the seed's README: "el
resumen es almacenado en el topico summary en formato JSON", with `ventas` and
`fecha`). No CloudEvents SDK and no filter: the record's value is taken as the
summary's JSON, as the seed's consumer took it. It works because `summary`
carries only summaries; cook and vendor reports are on topic `report`.

Reads every partition from the beginning to the end offsets it finds at
start (no consumer group), and prints one JSON line per email it would send:
{"fecha", "vendedor", "n_sopaipillas", "n_ordenes"}; on a record it cannot
read it dies as the seed's consumer did (a traceback, exit 1).

usage: seed_consumer.py BOOTSTRAP TOPIC
"""

import json
import sys

from kafka import KafkaConsumer, TopicPartition


def main():
    bootstrap, topic = sys.argv[1:3]
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
                summary = json.loads(record.value)
                for vendedor, ventas in summary["ventas"].items():
                    print(json.dumps({"fecha": summary["fecha"], "vendedor": vendedor,
                                      "n_sopaipillas": ventas["n_sopaipillas"], "n_ordenes": ventas["n_ordenes"]}), flush=True)
    consumer.close()


if __name__ == "__main__":
    main()
