#!/usr/bin/env python3
"""Writes the sample pages of manifest.jsonl: small real PNG scans and a PDF (standard library
only). Rerun it to recreate pages/; the output is the same on every run.

`generate.py --bulk N DIR` writes instead a manifest of N documents (three 20 KiB pages each,
new residential accounts of county 120101, one in ten closed in its source) into DIR, for
measuring the importer (BENCHMARKS.md)."""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = os.path.join(HERE, "pages")


def png(width, height, seed):
    """A grey 'scan' with a few darker lines, different per seed."""
    rows = []
    for y in range(height):
        dark = (y + seed * 7) % 23 < 2
        rows.append(b"\x00" + bytes([90 if dark else 235]) * width)
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def pdf(text):
    """A one-page PDF showing `text` (ASCII)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def main():
    os.makedirs(PAGES, exist_ok=True)
    for seed, name in enumerate(["9001-application-1", "9001-application-2", "9001-id-front",
                                 "9001-id-back", "9002-id", "9003-licence"], 1):
        with open(os.path.join(PAGES, name + ".png"), "wb") as f:
            f.write(png(120, 170, seed))
    with open(os.path.join(PAGES, "9003-contract.pdf"), "wb") as f:
        f.write(pdf("Supply contract 2004-GY-0031 (sample)"))
    with open(os.path.join(PAGES, "9002-settlement.pdf"), "wb") as f:
        f.write(pdf("Settlement notice 2012-XH-0007 (sample)"))


def bulk(count, out):
    import json
    import random
    pages = os.path.join(out, "pages")
    os.makedirs(pages, exist_ok=True)
    rng = random.Random(14)
    with open(os.path.join(out, "manifest.jsonl"), "w") as manifest:
        for i in range(count):
            account = "13%08d" % i
            names = []
            for p in range(3):
                name = "%d-%d.jpg" % (i, p)
                with open(os.path.join(pages, name), "wb") as f:
                    f.write(b"\xff\xd8\xff\xe0" + rng.randbytes(20 * 1024 - 4))
                names.append("pages/" + name)
            closed = i % 10 == 9
            customer = {"display_name": "客户%d" % i, "customer_class": "residential",
                        "org_unit_code": "120101", "open_date": "2001-01-01"}
            if closed:
                customer.update(status="closed", close_date="2015-01-01")
            manifest.write(json.dumps({
                "account_number": account, "customer": customer,
                "document_type": "application-form", "business_process": "new_connection",
                "title": "申请书 %d" % i, "original_date": "2001-01-01",
                "reference_number": "B-%d" % i, "legacy_system": "bulk", "pages": names,
            }, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "--bulk":
        bulk(int(sys.argv[2]), sys.argv[3])
    else:
        main()
