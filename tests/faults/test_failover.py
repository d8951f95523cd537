"""The TASKS stream's leader is killed under load: nothing accepted is lost, nothing runs twice."""

import pytest
from infra import ClusterNodes
from support.failover import SteadyLoad, audit, kill_stream_leader
from support.fixtures import SystemFactory
from taskbus.subjects import Subjects

pytestmark = pytest.mark.faults

KILLS = 3


def test_killing_the_stream_leader_loses_and_repeats_nothing(
    nats_cluster: ClusterNodes, system_factory: SystemFactory
) -> None:
    with system_factory(
        "failover", nats=nats_cluster.url, extra_env={"NATS_STREAM_REPLICAS": "3"}
    ) as s:
        stream = Subjects(s.namespace).stream
        nats_cluster.wait_until_stream_is_current(stream)
        with SteadyLoad(s.api_url) as load:
            for _ in range(KILLS):
                kill_stream_leader(nats_cluster, stream, load)
            load.wait_for_accepted(5)
        submissions = load.submissions
        result = audit(s, submissions.accepted)
        rejoined = nats_cluster.stream_is_current(stream)

    print(f"accepted {result.accepted}, refused {dict(submissions.refused)}")
    assert set(submissions.refused) <= {"HTTP 503"}, submissions.refused
    assert result.lost == []
    assert result.unfinished == {}
    assert result.duplicated == {}
    assert rejoined, "every replica of the stream is current again"
