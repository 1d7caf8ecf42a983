#!/usr/bin/env python3
"""Writes an OCI image layout with LAYERS layers of SIZE bytes of incompressible data each.

usage: mkimage.py [--uncompressed] LAYERS SIZE OUTDIR [TAG]    SIZE: bytes, or with K/M/G suffix (binary units)
Each layer is a tar holding one file of random bytes, gzip-compressed as real images' layers are (random bytes do not
shrink, so the blob is about SIZE); --uncompressed keeps plain tar layers. Prints the manifest digest.
"""
import gzip, hashlib, io, json, os, shutil, sys, tarfile


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def put_blob(out, path_or_bytes):
    h = hashlib.sha256()
    if isinstance(path_or_bytes, bytes):
        h.update(path_or_bytes)
        digest = h.hexdigest()
        with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
            f.write(path_or_bytes)
        return "sha256:" + digest, len(path_or_bytes)
    with open(path_or_bytes, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    digest = h.hexdigest()
    size = os.path.getsize(path_or_bytes)
    os.replace(path_or_bytes, os.path.join(out, "blobs", "sha256", digest))
    return "sha256:" + digest, size


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    args = sys.argv[1:]
    compressed = "--uncompressed" not in args
    args = [a for a in args if a != "--uncompressed"]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    layers, size, out = int(args[0]), parse_size(args[1]), args[2]
    tag = args[3] if len(args) > 3 else "latest"
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    layer_descs, diff_ids = [], []
    for i in range(layers):
        tmp = os.path.join(out, f".layer{i}.tar")
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo(f"layer{i}.bin")
            info.size = size
            info.mtime = 0
            data = io.BytesIO(os.urandom(size))
            tar.addfile(info, data)
        media_type = "application/vnd.oci.image.layer.v1.tar"
        if compressed:
            diff_ids.append("sha256:" + file_sha256(tmp))
            with open(tmp, "rb") as src, gzip.GzipFile(tmp + ".gz", "wb", compresslevel=1, mtime=0) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.remove(tmp)
            tmp += ".gz"
            media_type += "+gzip"
        digest, blob_size = put_blob(out, tmp)
        if not compressed:
            diff_ids.append(digest)
        layer_descs.append({"mediaType": media_type, "digest": digest, "size": blob_size})
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {}}, separators=(",", ":"), sort_keys=True).encode()
    cdigest, csize = put_blob(out, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
                           "layers": layer_descs}, separators=(",", ":")).encode()
    mdigest, msize = put_blob(out, manifest)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    print(mdigest)


if __name__ == "__main__":
    main()
