"""The compiled query parser returns what botocore's returns, for any reply the model allows
(and for tags it does not know, repeated tags, empty elements), and is installed on the
adapter's Auto Scaling client."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import botocore.session
from botocore.model import Shape, StructureShape
from botocore.parsers import QueryParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.aws.clients import make_clients
from controlplane.aws.fast_xml import REUSE_MIN_BYTES, CompiledQueryParser, FastQueryParsers

NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
MODEL = botocore.session.get_session().get_service_model("autoscaling")
OPERATIONS = (
    "DescribeAutoScalingGroups",
    "DescribeLifecycleHooks",
    "DescribeScalingActivities",
    "DescribeWarmPool",
    "DescribeAutoScalingInstances",
)
TEXT = st.text(alphabet="abcXYZ019-_ :./", max_size=12)
SCALARS = {
    "string": TEXT,
    "integer": st.integers(-5, 10**6).map(str),
    "long": st.integers(-5, 10**12).map(str),
    "double": st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    "float": st.floats(-1e3, 1e3, allow_nan=False).map(repr),
    "boolean": st.sampled_from(["true", "false", "True", ""]),
    "timestamp": st.sampled_from(
        ["2026-11-23T12:00:00Z", "2026-11-23T12:00:00.123Z", "2026-11-23T12:00:00+02:00"]
    ),
}


def output(operation: str) -> StructureShape:
    shape = MODEL.operation_model(operation).output_shape
    assert shape is not None
    return shape


def xml(data: st.DataObject, shape: Any, depth: int = 0) -> str:
    """The inner XML of a value of `shape` as a query-protocol service writes it, now and
    then with an unknown tag, a repeated member or an empty element mixed in."""
    if shape.type_name == "structure":
        parts = []
        for name, member in shape.members.items():
            if depth > 4 or not data.draw(st.booleans()):
                continue
            tag = member.serialization.get("name", name)
            copies = 2 if data.draw(st.integers(0, 30)) == 0 else 1
            for _ in range(copies):
                parts.append(f"<{tag}>{xml(data, member, depth + 1)}</{tag}>")
        if data.draw(st.integers(0, 10)) == 0:
            parts.append("<SomethingNew><Inner>1</Inner></SomethingNew>")
        return "".join(parts)
    if shape.type_name == "list":
        count = 0 if depth > 4 else data.draw(st.integers(0, 3))
        items = (xml(data, shape.member, depth + 1) for _ in range(count))
        return "".join(f"<member>{item}</member>" for item in items)
    if shape.type_name == "map":
        return ""
    strategy = SCALARS.get(shape.type_name, TEXT)
    return escape(data.draw(strategy))


def reply(operation: str, body: str) -> dict[str, Any]:
    wrapper = f"{operation}Result"
    text = (
        f'<{operation}Response xmlns="{NS}"><{wrapper}>{body}</{wrapper}>'
        "<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    )
    return {"body": text.encode(), "headers": {"x-amzn-requestid": "r-1"}, "status_code": 200}


def outcome(parser: QueryParser, response: dict[str, Any], shape: Shape) -> Any:
    try:
        return plain(parser.parse(dict(response), shape))
    except Exception as error:  # both must fail alike on a value the model refuses
        return type(error).__name__


def plain(value: Any) -> Any:
    """Elements (botocore hands back a repeated scalar tag's nodes) compared by content."""
    if isinstance(value, Element):
        return ("element", value.tag, value.text)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_result_as_botocore(data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(OPERATIONS))
    shape = output(operation)
    response = reply(operation, xml(data, shape))
    fast = CompiledQueryParser()
    assert outcome(fast, response, shape) == outcome(QueryParser(), response, shape)
    assert outcome(fast, response, shape) == outcome(QueryParser(), response, shape)  # cached


def test_error_replies_are_botocore_s() -> None:
    shape = output("DescribeAutoScalingGroups")
    body = (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>Throttling</Code>'
        "<Message>Rate exceeded</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
    )
    response = {"body": body.encode(), "headers": {}, "status_code": 400}
    assert CompiledQueryParser().parse(dict(response), shape) == QueryParser().parse(
        dict(response), shape
    )


def test_the_adapter_s_autoscaling_client_uses_it(moto_url: str) -> None:
    autoscaling, ec2 = make_clients("us-east-1", moto_url)
    factory = autoscaling._endpoint._response_parser_factory  # type: ignore[attr-defined]
    assert isinstance(factory, FastQueryParsers)
    assert isinstance(factory.create_parser("query"), CompiledQueryParser)
    assert autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"] is not None
    assert not isinstance(ec2._endpoint._response_parser_factory, FastQueryParsers)  # type: ignore[attr-defined]


def _groups_reply(instances: int, request_id: str, state: str = "InService") -> dict[str, Any]:
    members = "".join(
        f"<member><InstanceId>i-{n:05d}</InstanceId><AvailabilityZone>us-east-1a"
        f"</AvailabilityZone><LifecycleState>{state if n == 7 else 'InService'}"
        "</LifecycleState><HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>true"
        "</ProtectedFromScaleIn><InstanceType>m5.2xlarge</InstanceType></member>"
        for n in range(instances)
    )
    group = (
        "<member><AutoScalingGroupName>batch-a</AutoScalingGroupName><MinSize>0</MinSize>"
        f"<MaxSize>9999</MaxSize><DesiredCapacity>{instances}</DesiredCapacity>"
        f"<Instances>{members}</Instances></member>"
    )
    response = reply("DescribeAutoScalingGroups", f"<AutoScalingGroups>{group}</AutoScalingGroups>")
    response["body"] = response["body"].replace(b"r-1", request_id.encode())
    response["headers"] = {"x-amzn-requestid": request_id}
    return response


def test_a_large_reply_seen_before_is_not_parsed_again_and_is_still_botocore_s() -> None:
    shape = output("DescribeAutoScalingGroups")
    fast = CompiledQueryParser()
    first = _groups_reply(600, "r-1")
    assert len(first["body"]) >= REUSE_MIN_BYTES
    assert fast.parse(dict(first), shape) == QueryParser().parse(dict(first), shape)
    again = _groups_reply(600, "r-2")  # the same content, another request
    reused = fast.parse(dict(again), shape)
    assert fast.reused == 1
    assert reused == QueryParser().parse(dict(again), shape)
    assert reused["ResponseMetadata"]["RequestId"] == "r-2"
    reused["AutoScalingGroups"].clear()  # fresh objects: what a reader does is its own
    assert fast.parse(dict(again), shape) == QueryParser().parse(dict(again), shape)
    assert fast.reused == 2
    changed = _groups_reply(600, "r-3", state="Terminating")  # one instance differs
    assert fast.parse(dict(changed), shape) == QueryParser().parse(dict(changed), shape)
    assert fast.reused == 2
    small = reply("DescribeAutoScalingGroups", "")
    fast.parse(dict(small), shape)
    fast.parse(dict(small), shape)
    assert fast.reused == 2  # small replies are always parsed
