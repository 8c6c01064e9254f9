"""Nodes started together on an empty catalog and an empty shared storage root agree on one first admin key.

`reel up` on a fresh root makes an admin key, keeps it in <data>/admin.key and prints a link with it.
Several nodes starting at once must not each make their own: one key in the catalog, the one in the file,
and every node's link carries it.
"""

from __future__ import annotations

import json
import re
import subprocess

from fleet_support import Node, wait_for
from reel_http_support import REPO_ROOT, free_port, reel_env

ROUNDS = 3   # the race is a matter of milliseconds: a few fresh starts


def test_nodes_starting_together_share_one_first_admin_key(fleet, reel_bin, postgres, tmp_path, request):
    for round in range(ROUNDS):
        name = f"first_start_{round}"
        made = subprocess.run(["psql", postgres.url, "-qc", f"CREATE DATABASE {name}"], capture_output=True, text=True,
                              timeout=60)
        assert made.returncode == 0, made.stderr
        database = postgres.url.rsplit("/", 1)[0] + f"/{name}"
        data = tmp_path / f"data-{round}"
        data.mkdir()
        nodes = [Node(f"first-{round}-{i}", reel_bin, data, database, free_port(), tmp_path / f"up-{round}-{i}.log", "",
                      workers=False) for i in range(2)]
        for node in nodes:
            request.addfinalizer(node.stop)
        for node in nodes:
            node.launch()
        for node in nodes:
            node.wait_healthy()

        def banners():
            found = [re.search(r"Reel is up: open (\S+)", node.log_text()) for node in nodes]
            return all(found) and [m.group(1) for m in found]

        links = wait_for(banners, 60, "both nodes' banners", diagnose=lambda: "\n".join(n.log_tail() for n in nodes))
        for node in nodes:
            node.stop()
        keys = subprocess.run([str(reel_bin), "keys", "list", "--json", "--data", str(data), "--database", database],
                              capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=reel_env())
        assert keys.returncode == 0, keys.stderr
        admins = [k for k in json.loads(keys.stdout) if k["scope"] == "admin"]
        saved = (data / "admin.key").read_text().strip()
        assert len(admins) == 1, f"round {round}: {len(admins)} first admin keys for one catalog: {admins}"
        assert all(link.endswith(f"#key={saved}") for link in links), (
            f"round {round}: the links printed {links} do not all carry the key in admin.key ({saved[:12]}…)")
