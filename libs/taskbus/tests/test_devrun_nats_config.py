"""devrun's nats-server fsyncs every JetStream write before acknowledging it (invariant 1)."""

from pathlib import Path

from taskbus.devrun.nats import cluster_nodes, monitor_json, server_config, start_nats


def test_every_cluster_member_is_configured_to_sync_always(tmp_path: Path) -> None:
    for node in cluster_nodes(tmp_path, 3, ports=None, log_dir=tmp_path):
        config = server_config(node)
        assert "sync_interval: always" in config
        assert f'store_dir: "{node.store_dir}"' in config


def test_a_started_server_syncs_always_and_keeps_its_store(tmp_path: Path) -> None:
    server = start_nats(tmp_path / "nats")
    try:
        varz = monitor_json(server.monitor_url, "/varz")
    finally:
        server.stop()

    jetstream = varz["jetstream"]["config"]
    assert jetstream["sync_always"] is True
    assert jetstream["store_dir"] == str(tmp_path / "nats" / "jetstream")
