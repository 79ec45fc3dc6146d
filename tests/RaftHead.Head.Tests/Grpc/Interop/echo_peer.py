#!/usr/bin/python3
"""The independent peer for interop tests: Debian's grpcio speaking rafthead.test.Echo.

  echo_peer.py serve                 serve on a free loopback port; prints "LISTENING <port>", then one line per event
  echo_peer.py client <host:port>    run every case against a server; prints "PASS <case>" or "FAIL <case>: why"

Only well-known types travel, so no generated code is needed on either side. google.rpc messages are built
from descriptors here because Debian's python3-protobuf does not ship them.
"""
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, empty_pb2, wrappers_pb2
from google.protobuf import any_pb2, message_factory

SERVICE = "rafthead.test.Echo"
MAX_BYTES = 20 * 1024 * 1024
OPTIONS = [("grpc.max_receive_message_length", MAX_BYTES), ("grpc.max_send_message_length", MAX_BYTES)]


def _rpc_messages():
    pool = descriptor_pool.DescriptorPool()
    for dep in (any_pb2, duration_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        dep.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    f = descriptor_pb2.FileDescriptorProto(name="rpc_subset.proto", package="google.rpc", syntax="proto3")
    f.dependency.extend(["google/protobuf/any.proto", "google/protobuf/duration.proto"])
    T = descriptor_pb2.FieldDescriptorProto

    def message(name, fields, nested=()):
        m = f.message_type.add(name=name)
        for n in nested:
            m.nested_type.add().CopyFrom(n)
        for fname, number, ftype, label, tname in fields:
            fld = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                fld.type_name = tname
        return m

    one, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    message("Status", [("code", 1, T.TYPE_INT32, one, None), ("message", 2, T.TYPE_STRING, one, None),
                       ("details", 3, T.TYPE_MESSAGE, rep, ".google.protobuf.Any")])
    violation = descriptor_pb2.DescriptorProto(name="Violation")
    for fname, number in (("type", 1), ("subject", 2), ("description", 3)):
        violation.field.add(name=fname, number=number, type=T.TYPE_STRING, label=one)
    message("PreconditionFailure", [("violations", 1, T.TYPE_MESSAGE, rep, ".google.rpc.PreconditionFailure.Violation")], [violation])
    field_violation = descriptor_pb2.DescriptorProto(name="FieldViolation")
    for fname, number in (("field", 1), ("description", 2)):
        field_violation.field.add(name=fname, number=number, type=T.TYPE_STRING, label=one)
    message("BadRequest", [("field_violations", 1, T.TYPE_MESSAGE, rep, ".google.rpc.BadRequest.FieldViolation")], [field_violation])
    message("RetryInfo", [("retry_delay", 1, T.TYPE_MESSAGE, one, ".google.protobuf.Duration")])
    pool.Add(f)
    names = ("Status", "PreconditionFailure", "BadRequest", "RetryInfo")
    factory = message_factory.MessageFactory(pool)
    return {n: factory.GetPrototype(pool.FindMessageTypeByName("google.rpc." + n)) for n in names}


RPC = _rpc_messages()


def say(line):
    print(line, flush=True)


def payload(size, seed=7):
    return bytes((seed + i * 31) & 0xFF for i in range(size))


# ---------------------------------------------------------------- server side

def serve():
    def echo(request, context):
        return request

    def repeat(request, context):
        count, size = request.value % 1_000_000, request.value // 1_000_000
        body = payload(size) if size else None
        for i in range(count):
            yield wrappers_pb2.BytesValue(value=body if body is not None else str(i).encode())

    def total(request_iterator, context):
        return wrappers_pb2.Int64Value(value=sum(r.value for r in request_iterator))

    def chat(request_iterator, context):
        terminated = threading.Event()
        context.add_callback(terminated.set)
        try:
            for r in request_iterator:
                yield wrappers_pb2.StringValue(value="echo:" + r.value)
        finally:
            # After a half-close the call is still active; after a client cancel it is not. grpcio may end the
            # request iterator on a cancel before it marks the call inactive, so an active call gets a bounded
            # wait for the termination a cancel brings (a half-closed call only terminates after this handler).
            if context.is_active():
                terminated.wait(2)
            say("CHAT ENDED cancelled=%s" % (not context.is_active()))

    def fail(request, context):
        status = RPC["Status"](code=grpc.StatusCode.FAILED_PRECONDITION.value[0], message=request.value)
        v = RPC["PreconditionFailure"]().violations.add(type="MISSING", subject="blobs/abc/3", description="not here")
        pf = RPC["PreconditionFailure"](violations=[v])
        br = RPC["BadRequest"]()
        br.field_violations.add(field="digest", description="bad")
        ri = RPC["RetryInfo"]()
        ri.retry_delay.FromMilliseconds(1500)
        for d in (pf, br, ri):
            status.details.add().Pack(d)
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, request.value)

    def sleep(request, context):
        remaining = context.time_remaining()
        say("SLEEP remaining=%s" % ("none" if remaining is None else "%.3f" % remaining))
        done = threading.Event()
        context.add_callback(done.set)
        done.wait(request.seconds + request.nanos / 1e9)
        if not context.is_active():
            say("CANCELLED Sleep")
        return empty_pb2.Empty()

    def upload(request_iterator, context):
        return wrappers_pb2.Int64Value(value=sum(len(r.value) for r in request_iterator))

    def headers(request, context):
        seen = "".join("%s=%s;" % (k, v.hex().upper() if k.endswith("-bin") else v)
                       for k, v in context.invocation_metadata() if k.startswith("x-"))
        context.set_trailing_metadata((("x-trailer", "t1"), ("x-trailer-bin", bytes([0, 1, 2, 255]))))
        return wrappers_pb2.StringValue(value=seen)

    B, I, S = wrappers_pb2.BytesValue, wrappers_pb2.Int64Value, wrappers_pb2.StringValue
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, B.FromString, B.SerializeToString),
        "Repeat": grpc.unary_stream_rpc_method_handler(repeat, I.FromString, B.SerializeToString),
        "Sum": grpc.stream_unary_rpc_method_handler(total, I.FromString, I.SerializeToString),
        "Chat": grpc.stream_stream_rpc_method_handler(chat, S.FromString, S.SerializeToString),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, S.FromString, empty_pb2.Empty.SerializeToString),
        "Sleep": grpc.unary_unary_rpc_method_handler(sleep, duration_pb2.Duration.FromString, empty_pb2.Empty.SerializeToString),
        "Headers": grpc.unary_unary_rpc_method_handler(headers, empty_pb2.Empty.FromString, S.SerializeToString),
        "Upload": grpc.stream_unary_rpc_method_handler(upload, B.FromString, I.SerializeToString),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    say("LISTENING %d" % port)
    # Stop when the test closes our stdin (or kills us): never outlive the test.
    sys.stdin.read()
    server.stop(grace=1).wait()


# ---------------------------------------------------------------- client side

def client(target):
    channel = grpc.insecure_channel(target, options=OPTIONS)
    grpc.channel_ready_future(channel).result(timeout=10)
    B, I, S = wrappers_pb2.BytesValue, wrappers_pb2.Int64Value, wrappers_pb2.StringValue
    path = "/" + SERVICE + "/"
    echo = channel.unary_unary(path + "Echo", B.SerializeToString, B.FromString)
    repeat = channel.unary_stream(path + "Repeat", I.SerializeToString, B.FromString)
    total = channel.stream_unary(path + "Sum", I.SerializeToString, I.FromString)
    chat = channel.stream_stream(path + "Chat", S.SerializeToString, S.FromString)
    fail = channel.unary_unary(path + "Fail", S.SerializeToString, empty_pb2.Empty.FromString)
    sleep = channel.unary_unary(path + "Sleep", duration_pb2.Duration.SerializeToString, empty_pb2.Empty.FromString)
    headers = channel.unary_unary(path + "Headers", empty_pb2.Empty.SerializeToString, S.FromString)

    def case_unary():
        body = payload(100)
        assert echo(B(value=body), timeout=10).value == body

    def case_gzip():
        body = payload(64 * 1024)
        assert echo(B(value=body), timeout=10, compression=grpc.Compression.Gzip).value == body

    def case_large():
        body = payload(16 * 1024 * 1024, 3)
        assert echo(B(value=body), timeout=30).value == body

    def case_server_streaming():
        got = [m.value.decode() for m in repeat(I(value=1000), timeout=10)]
        assert got == [str(i) for i in range(1000)], got[:5]

    def case_client_streaming():
        assert total(iter([I(value=i) for i in range(1, 101)]), timeout=10).value == 5050

    def case_bidi():
        import queue
        q = queue.Queue()
        call = chat(iter(q.get, None), timeout=10)
        for i in range(20):
            q.put(S(value="m%d" % i))
            assert next(call).value == "echo:m%d" % i
        q.put(None)
        assert list(call) == []

    def case_deadline():
        started = time.monotonic()
        try:
            sleep(duration_pb2.Duration(seconds=60), timeout=0.3)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
            assert time.monotonic() - started < 10
            return
        raise AssertionError("no deadline error")

    def case_error_details():
        message = "naïve 100% ✓ — missing\nblob"
        try:
            fail(S(value=message), timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.code()
            assert e.details() == message, repr(e.details())
            raw = dict(e.trailing_metadata())["grpc-status-details-bin"]
            status = RPC["Status"].FromString(raw)
            assert status.code == 9 and status.message == message
            pf, br, ri = RPC["PreconditionFailure"](), RPC["BadRequest"](), RPC["RetryInfo"]()
            assert status.details[0].Unpack(pf) and pf.violations[0].subject == "blobs/abc/3"
            assert status.details[1].Unpack(br) and br.field_violations[0].field == "digest"
            assert status.details[2].Unpack(ri) and ri.retry_delay.ToMilliseconds() == 1500
            return
        raise AssertionError("no error")

    def case_metadata():
        seen, call = headers.with_call(empty_pb2.Empty(), metadata=(("x-tool", "bazel"), ("x-blob-bin", bytes([0, 255, 10, 13]))), timeout=10)
        assert "x-tool=bazel;" in seen.value and "x-blob-bin=00FF0A0D;" in seen.value, seen.value
        trailers = dict(call.trailing_metadata())
        assert trailers["x-trailer"] == "t1" and trailers["x-trailer-bin"] == bytes([0, 1, 2, 255]), trailers

    def case_cancel():
        import queue
        q = queue.Queue()
        call = chat(iter(q.get, None), timeout=30)
        q.put(S(value="hello"))
        assert next(call).value == "echo:hello"
        # The server is now inside the handler: cancel and expect CANCELLED locally.
        call.cancel()
        try:
            next(call)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.CANCELLED, e.code()
            q.put(None)
            return
        raise AssertionError("call was not cancelled")

    def case_unimplemented():
        nope = channel.unary_unary(path + "Nope", empty_pb2.Empty.SerializeToString, empty_pb2.Empty.FromString)
        try:
            nope(empty_pb2.Empty(), timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e.code()
            return
        raise AssertionError("no error")

    failures = 0
    for name, case in sorted((k, v) for k, v in locals().items() if k.startswith("case_")):
        try:
            case()
            say("PASS " + name[5:])
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            failures += 1
            say("FAIL %s: %r" % (name[5:], e))
    channel.close()
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve()
    elif len(sys.argv) == 3 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
