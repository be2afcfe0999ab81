#!/usr/bin/env python3
"""Writes sample.pdf: a minimal two-page PDF with one line of text per page (Helvetica), with
a correct cross-reference table, using only the standard library. Run from this folder:
    python3 make_sample_pdf.py
The knowledge tests check that poppler reads the two lines back, page 1 before page 2.
build(pages) makes such a PDF of other lines (one per page, ASCII without parentheses or
backslashes); tests/e2e/test_knowledge.py uploads one."""

PAGES = ["Shardserve knowledge base sample page one.", "The second page mentions hnswlib."]


def build(pages=PAGES):
    objects = []  # bodies of objects 1..n
    n_pages = len(pages)
    page_ids = [3 + 2 * i for i in range(n_pages)]
    font_id = 3 + 2 * n_pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, text in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append((f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                        f"/Resources << /Font << /F1 {font_id} 0 R >> >> "
                        f"/Contents {content_id} 0 R >>").encode())
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


if __name__ == "__main__":
    with open("sample.pdf", "wb") as f:
        f.write(build())
