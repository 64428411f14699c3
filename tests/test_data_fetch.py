"""`liqe data fetch-labels` without the network: hashes against the exact copies, downloads from a local server."""
import functools
import http.server
import threading

import pooch
import pytest

from liqe_lib.cli import main
from liqe_lib.data.fetch import BASE_URL, fetch_labels, sha256_tree
from liqe_lib.data.label_hashes import LABEL_SHA256


@pytest.fixture
def mirror(tmp_path):
    """Serve a copy of shared/liqe_labels on localhost; yield (base URL, served folder)."""
    def serve(folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"
    servers = []
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_recorded_hashes_are_those_of_the_exact_copies(shared_labels):
    assert sha256_tree(shared_labels) == LABEL_SHA256


def test_urls_are_pinned_to_the_commit():
    assert BASE_URL == "https://raw.githubusercontent.com/zwx8981/LIQE/a64655f/IQA_Database/"


def test_fetch_downloads_the_files_of_a_dataset_and_checks_them(shared_labels, mirror, tmp_path):
    dest = fetch_labels(tmp_path / "labels", ["CSIQ"], base_url=mirror(shared_labels), progress=False)
    fetched = sha256_tree(dest)
    assert len(fetched) == 32 and all(LABEL_SHA256[path] == digest for path, digest in fetched.items())


def test_a_tampered_download_is_refused(shared_labels, mirror, tmp_path):
    served = tmp_path / "served" / "CSIQ" / "splits2"
    served.mkdir(parents=True)
    (served / "csiq_all_clip.txt").write_text((shared_labels / "CSIQ/splits2/csiq_all_clip.txt").read_text()[:-20])
    fetcher = pooch.create(path=tmp_path / "labels", base_url=mirror(tmp_path / "served"), registry=LABEL_SHA256)
    with pytest.raises(ValueError, match="SHA256 hash of downloaded file"):
        fetcher.fetch("CSIQ/splits2/csiq_all_clip.txt")


def test_fetch_labels_command_then_verify_reads_them(shared_labels, mirror, tmp_path, capsys):
    url = mirror(shared_labels)
    assert main(["data", "fetch-labels", "--root", str(tmp_path), "--dataset", "bid", "--base-url", url]) == 0
    assert (tmp_path / "liqe_labels" / "BID" / "splits2" / "7" / "bid_val_clip.txt").is_file()
    assert main(["data", "verify", "--root", str(tmp_path), "--dataset", "bid"]) == 1  # labels, but no images
    out = capsys.readouterr().out
    assert "label rows: 586; images found: 0; missing: 586" in out and "unpack it as" in out
