#!/usr/bin/env python3
"""Upload throughput of the knowledge base: chunks embedded per second through POST /v1/files.

Starts `shardserve up -c configs/local.yaml` on free ports with its own temporary knowledge
base (all-MiniLM-L6-v2 on the config's embedding group), then uploads synthetic text documents
of --kib KiB each (--files of them, one after another, then --parallel at once) and reports,
per upload: chunks, seconds, chunks/s. The same chunk texts are then embedded straight through
POST /v1/embeddings in batches of 32 (what the upload path does), so the report shows how much
of an upload is the embedding model and how much is extraction, chunking and the SQLite commit.
The chunk count of each upload is read from the knowledge base's database (read-only).

    .venv/bin/python bench/knowledge/bench_upload.py [--kib 256] [--files 3] [--parallel 2]
"""
import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMBED_MODEL = "all-minilm-l6-v2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def document(kib, seed):
    """Prose-like text: sentences of varied words, paragraphs of 3-6 sentences."""
    words = ("river valley engine harbour lantern orbit garden council winter market copper "
             "signal archive meadow circuit ledger bridge compass falcon quarry").split()
    out, i = [], seed
    while sum(len(p) for p in out) < kib * 1024:
        sentences = []
        for _ in range(3 + i % 4):
            n = 8 + (i * 7) % 12
            sentence = " ".join(words[(i * 13 + k * 5) % len(words)] for k in range(n))
            sentences.append(sentence.capitalize() + f" number {i}.")
            i += 1
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def upload(base, name, text):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            f"assistants\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode() + \
        text.encode() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + "/v1/files", body,
                                 {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        record = json.loads(r.read())
    return record["id"], time.perf_counter() - start


def chunk_texts(data_dir, file_id):
    db = sqlite3.connect(f"file:{data_dir}/knowledge.db?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT text FROM chunks WHERE file_id = ? ORDER BY idx",
                                         (file_id,))]
    finally:
        db.close()


def embed_direct(base, texts, batch=32):
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        req = urllib.request.Request(
            base + "/v1/embeddings",
            json.dumps({"model": EMBED_MODEL, "input": texts[i:i + batch],
                        "truncate": True}).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=str(ROOT / "build/cli/shardserve"))
    ap.add_argument("--kib", type=int, default=256)
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=2)
    args = ap.parse_args()

    data = tempfile.TemporaryDirectory(prefix="bench-kb-")
    port, zmq = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [args.binary, "up", "-c", str(ROOT / "configs/local.yaml"), "--set", f"server.port={port}",
         "--set", f"server.coordinator_endpoint=tcp://127.0.0.1:{zmq}",
         "--set", f"knowledge.data_dir={data.name}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("the cluster did not become ready")
            time.sleep(0.3)
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                    if line.startswith("model name")), "?")
        print(f"# {cpu}, {os.cpu_count()} cores; documents of {args.kib} KiB")
        print(f"{'upload':<12} {'chunks':>7} {'seconds':>8} {'chunks/s':>9}")
        total_chunks, total_s, texts = 0, 0.0, []
        for i in range(args.files):
            file_id, seconds = upload(base, f"doc{i}.txt", document(args.kib, i * 1000))
            chunks = chunk_texts(data.name, file_id)
            texts += chunks
            total_chunks += len(chunks)
            total_s += seconds
            print(f"{'doc' + str(i):<12} {len(chunks):>7} {seconds:>8.2f} {len(chunks) / seconds:>9.1f}")
        print(f"{'sequential':<12} {total_chunks:>7} {total_s:>8.2f} {total_chunks / total_s:>9.1f}")

        if args.parallel > 1:
            results = [None] * args.parallel

            def one(k):
                results[k] = upload(base, f"par{k}.txt", document(args.kib, 50000 + k * 1000))
            start = time.perf_counter()
            threads = [threading.Thread(target=one, args=(k,)) for k in range(args.parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            n = sum(len(chunk_texts(data.name, fid)) for fid, _ in results)
            print(f"{str(args.parallel) + ' at once':<12} {n:>7} {wall:>8.2f} {n / wall:>9.1f}")

        direct = embed_direct(base, texts)
        print(f"{'embed only':<12} {len(texts):>7} {direct:>8.2f} {len(texts) / direct:>9.1f}"
              f"   (POST /v1/embeddings, same chunks, batches of 32)")
        print(f"# upload overhead beyond embedding: {100 * (total_s - direct) / total_s:.1f}% "
              f"of the sequential uploads' time")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        data.cleanup()


if __name__ == "__main__":
    main()
