"""Query-protocol (XML) replies parsed by plans compiled once per shape.

Auto Scaling speaks only the query protocol, so a pass over 10,000 instances reads them
from XML: DescribeAutoScalingGroups' replies. botocore's parser rebuilds, for every element,
a map from tag to child (a regular expression per child to drop the namespace) and walks
every member the shape declares. `CompiledQueryParser` keeps botocore's parser and its
output, and replaces only the structure step: per shape, once, a table from tag to member,
and one walk over the children present (about a third off the parse; ElementTree's own is
the rest). Anything the table does not cover (flattened lists, XML attributes, header
members, unions, errors, a tag seen twice) goes to botocore's own code, so the result is
always what botocore would return; a property test holds the two to equality.

A large reply whose content is byte for byte the one before (its request id aside) is not
parsed again: a steady fleet's DescribeAutoScalingGroups at 10,000 instances is the same
10 MB every pass. The last such reply per output shape is kept as a digest of the body less
its ResponseMetadata and its parse, pickled (under a MB at 10,000 instances, where the
objects took tens: kept across passes, they also raised the pass's peak RSS); a hit
unpickles fresh objects (a fraction of the parse) with this reply's own metadata.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element, fromstring

from botocore.model import Shape
from botocore.parsers import PROTOCOL_PARSERS, QueryParser, ResponseParserFactory

#: One member of a compiled structure: its name, its shape, and how its text becomes a value
#: (None for lists and structures, which are parsed by shape).
_Member = tuple[str, Shape, Callable[[str], Any] | None]
#: Namespaced tags remembered (Auto Scaling's model has a few hundred).
_MAX_TAGS = 4096
#: Replies at least this large are kept for reuse (smaller ones parse in no time).
REUSE_MIN_BYTES = 64 * 1024
#: Output shapes whose last reply is kept (one reply each: of a read of several pages,
#: only a repeat of the last page is a hit).
_MAX_KEPT = 8
_META_OPEN, _META_CLOSE = b"<ResponseMetadata>", b"</ResponseMetadata>"


class CompiledQueryParser(QueryParser):
    """botocore's QueryParser with structures parsed by a per-shape table."""

    def __init__(self) -> None:
        super().__init__()
        self._plans: dict[int, tuple[Shape, dict[str, _Member] | None]] = {}
        #: Namespaced tag -> the bare name the model uses (botocore strips '{...}' too).
        self._local: dict[str, str] = {}
        self._scalars: dict[str, Callable[[str], Any]] = {
            "string": str,
            "character": str,
            "integer": int,
            "long": int,
            "float": float,
            "double": float,
            "boolean": lambda text: text == "true",
            "timestamp": self._timestamp_parser,  # type: ignore[attr-defined]
        }
        #: Output shape name -> (digest of its last reply's content, its parse pickled).
        self._kept: dict[str, tuple[bytes, bytes]] = {}
        self.reused = 0

    def _do_parse(self, response: dict[str, Any], shape: Shape | None) -> Any:
        body = response.get("body")
        if shape is None or not isinstance(body, bytes) or len(body) < REUSE_MIN_BYTES:
            return super()._do_parse(response, shape)  # type: ignore[misc]
        start = body.rfind(_META_OPEN)
        end = body.find(_META_CLOSE, start) + len(_META_CLOSE) if start >= 0 else -1
        if start < 0 or end < len(_META_CLOSE):
            return super()._do_parse(response, shape)  # type: ignore[misc]
        digest = hashlib.blake2b(body[:start], digest_size=20)
        digest.update(body[end:])
        key, content = shape.name, digest.digest()
        kept = self._kept.get(key)
        if kept is not None and kept[0] == content:
            self.reused += 1
            parsed: dict[str, Any] = pickle.loads(kept[1])  # bytes this process made
            meta = {child.tag: child.text for child in fromstring(body[start:end])}
            parsed["ResponseMetadata"] = meta
        else:
            parsed = super()._do_parse(response, shape)  # type: ignore[misc]
            if not isinstance(parsed, dict):
                return parsed
            if len(self._kept) >= _MAX_KEPT and key not in self._kept:
                self._kept.pop(next(iter(self._kept)))
            body_only = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            self._kept[key] = (content, pickle.dumps(body_only, pickle.HIGHEST_PROTOCOL))
        return parsed

    def _handle_structure(self, shape: Shape, node: Any) -> Any:
        plan = self._plan(shape)
        if plan is None or not isinstance(node, Element):
            return super()._handle_structure(shape, node)  # type: ignore[misc]
        parsed: dict[str, Any] = {}
        local = self._local
        for child in node:
            tag = child.tag
            bare = local.get(tag)
            if bare is None:
                bare = tag.rpartition("}")[2]
                if len(local) < _MAX_TAGS:  # the model's tags; a reply's own are not kept
                    local[tag] = bare
            member = plan.get(bare)
            if member is None:
                continue  # a tag the model does not know, ignored as botocore does
            name, member_shape, scalar = member
            if name in parsed:  # botocore makes repeated tags a list: let it
                return super()._handle_structure(shape, node)  # type: ignore[misc]
            if scalar is not None:
                parsed[name] = scalar(child.text or "")
            else:
                parsed[name] = self._parse_shape(member_shape, child)  # type: ignore[attr-defined]
        return parsed

    def _plan(self, shape: Shape) -> dict[str, _Member] | None:
        """The tag table of `shape` (None: botocore's code parses it), compiled once."""
        kept = self._plans.get(id(shape))
        if kept is not None and kept[0] is shape:
            return kept[1]
        plan = self._compile(shape)
        self._plans[id(shape)] = (shape, plan)
        return plan

    def _compile(self, shape: Shape) -> dict[str, _Member] | None:
        if shape.metadata.get("exception", False) or getattr(shape, "is_tagged_union", False):
            return None
        plan: dict[str, _Member] = {}
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            serialization = member.serialization
            if serialization.get("location") in self.KNOWN_LOCATIONS or serialization.get(
                "eventheader"
            ):
                continue  # not in the body: botocore skips these members too
            if serialization.get("xmlAttribute") or serialization.get("flattened"):
                return None
            if member.type_name == "list" and member.member.serialization.get("flattened"):
                return None
            scalar = self._scalars.get(member.type_name)
            if scalar is None and member.type_name not in ("list", "structure"):
                return None  # maps, blobs: botocore's code
            plan[serialization.get("name", name)] = (name, member, scalar)
        return plan


class FastQueryParsers(ResponseParserFactory):
    """A response parser factory handing out one compiled query parser (its plans are
    kept between calls); every other protocol gets botocore's parser."""

    def __init__(self) -> None:
        super().__init__()
        self._query = CompiledQueryParser()

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "query":
            return self._query
        return PROTOCOL_PARSERS[protocol_name]()  # type: ignore[operator]


def install(client: Any) -> bool:
    """Have `client` parse its query-protocol replies with the compiled parser; False (and
    botocore's parser kept) when this botocore keeps its endpoint differently."""
    endpoint = getattr(client, "_endpoint", None)
    if endpoint is None or not hasattr(endpoint, "_response_parser_factory"):
        return False
    endpoint._response_parser_factory = FastQueryParsers()
    return True
