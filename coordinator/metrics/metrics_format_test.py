#!/usr/bin/env python3
"""Checks metrics_sample's output with prometheus_client's text parser (the reference).

Usage: metrics_format_test.py PATH/TO/metrics_sample
Exits 77 (CTest: skipped) when prometheus_client is not installed.
"""
import math
import subprocess
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("SKIP: python3 module prometheus_client is not installed "
          "(pip install prometheus-client)")
    sys.exit(77)


def main():
    text = subprocess.run([sys.argv[1]], check=True, capture_output=True,
                          text=True).stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def samples(family, name):
        return {tuple(sorted(s.labels.items())): s.value
                for s in families[family].samples if s.name == name}

    # Counters: the parser strips _total from the family name.
    req = families["shardserve_requests"]
    assert req.type == "counter", req.type
    got = samples("shardserve_requests", "shardserve_requests_total")
    assert got[(("endpoint", "/v1/chat/completions"), ("status", "200"))] == 7, got
    assert got[(("endpoint", "/v1/chat/completions"), ("status", "429"))] == 2, got

    assert families["shardserve_queue_depth"].type == "gauge"
    assert samples("shardserve_queue_depth", "shardserve_queue_depth")[()] == 3
    assert samples("shardserve_group_kv_cache_usage_ratio",
                   "shardserve_group_kv_cache_usage_ratio")[(("group", "g0"),)] == 0.375

    ttft = "shardserve_time_to_first_token_seconds"
    assert families[ttft].type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in families[ttft].samples
               if s.name == ttft + "_bucket"]
    assert buckets[-1] == ("+Inf", 4), buckets
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    les = [float(le) for le, _ in buckets]
    assert les == sorted(les), "buckets must be in increasing order"
    assert dict(buckets)["0.005"] == 1 and dict(buckets)["0.5"] == 3, buckets
    assert samples(ttft, ttft + "_count")[(("model", "smollm2"),)] == 4
    assert abs(samples(ttft, ttft + "_sum")[(("model", "smollm2"),)] - 100.324) < 1e-9

    esc = families["sample_escapes"]
    assert esc.documentation == "Help with \\ backslash\nand newline.", repr(esc.documentation)
    (s,) = esc.samples
    assert s.labels == {"value": "quote \" backslash \\ newline \n end"}, s.labels
    assert s.value == -1.5

    special = samples("sample_special", "sample_special")
    assert math.isnan(special[(("kind", "nan"),)])
    assert special[(("kind", "inf"),)] == math.inf

    print("OK: %d families parsed" % len(families))


if __name__ == "__main__":
    main()
