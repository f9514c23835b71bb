#!/usr/bin/env python3
"""A loopback stand-in for the cloud providers, for aumatron's tests.

It speaks the providers' own wire formats, so the server under test cannot tell
it from the real thing:

  POST /v1/chat/completions        OpenAI Chat Completions (and OpenAI-compatible
                                   services), streamed as `data:` lines
  POST /v1/messages                Anthropic Messages, streamed as named events
  POST /v1/messages/count_tokens   Anthropic token counting

and it can be told to fail the way the real services fail: rate limits with
retry-after, exhausted credit, rejected keys, 5xx and 529, streams cut off
before their usage arrives, error events after a 200, malformed lines, stalls.

Control endpoints, all JSON:

  POST /_control/keys      {"keys": [..]}  only these keys are accepted (401
                           otherwise); an empty list accepts any key
  POST /_control/script    {"path": "/v1/messages", "steps": [step, ..]}
                           queues behaviours for the next requests on that path,
                           first in first out; without one, a request gets the
                           default answer
  POST /_control/reset     forgets keys, scripts and recorded requests
  GET  /_control/requests  every provider request so far: path, headers (lower
                           case) and body

A step is an object; every field is optional:

  text         the answer, streamed a word at a time (default: a fixed sentence)
  usage        {"input": N, "output": N, "cachedInput": N, "cacheWrite": N}, or
               "null" (OpenAI: the final chunk says "usage": null), "omit",
               "empty" (OpenAI: the final chunk says "usage": {}), or "every"
               (OpenAI: usage so far on every chunk, as some compatible servers
               send it, and no final report)
  status       answer this HTTP status with the provider's error body instead;
               `error` picks the body: "rate_limit", "insufficient_quota",
               "credit", "invalid_key", "permission", "server", "overloaded"
  retryAfter   seconds, sent as the retry-after header with a status
  fault        "drop" (close after `after` pieces, no usage), "stall" (send
               `after` pieces, then nothing for `seconds`), "error_event" (an
               error event after `after` pieces), "malformed" (a broken line
               after `after` pieces)
  after        pieces of text sent before the fault (default 2)
  seconds      how long a stall lasts (default 30)
  delayMs      pause between pieces (default 0)
  comments     true: interleave `: keep-alive` comment lines and ping events

Run: python3 tests/fake_cloud.py [--port N]; the first line on stdout is
"listening on http://127.0.0.1:PORT".
"""

import argparse
import collections
import http.server
import json
import socketserver
import sys
import threading
import time

DEFAULT_TEXT = "This answer comes from the loopback test provider, word by word."

ERRORS_OPENAI = {
    # The real message masks most of the key; this one quotes it whole, so tests
    # can check that nothing passes a provider's words on with the key in them.
    "invalid_key": (401, {"message": "Incorrect API key provided: {key}. You can find "
                          "your API key at https://platform.openai.com/account/api-keys.",
                          "type": "invalid_request_error", "param": None,
                          "code": "invalid_api_key"}),
    "permission": (403, {"message": "You are not allowed to use this key here.",
                         "type": "invalid_request_error", "param": None, "code": None}),
    "rate_limit": (429, {"message": "Rate limit reached for requests. Please try again "
                         "in 1s.", "type": "requests", "param": None,
                         "code": "rate_limit_exceeded"}),
    "insufficient_quota": (429, {"message": "You exceeded your current quota, please check "
                                 "your plan and billing details.",
                                 "type": "insufficient_quota", "param": None,
                                 "code": "insufficient_quota"}),
    "credit": (402, {"message": "Insufficient credits. Add more using the dashboard.",
                     "code": 402}),
    "server": (500, {"message": "The server had an error while processing your request. "
                     "Sorry about that!", "type": "server_error", "param": None,
                     "code": None}),
    "overloaded": (503, {"message": "The engine is currently overloaded, please try again "
                         "later.", "type": "service_unavailable_error", "param": None,
                         "code": "server_is_overloaded"}),
}

ERRORS_ANTHROPIC = {
    "invalid_key": (401, "authentication_error", "invalid x-api-key"),
    "permission": (403, "permission_error",
                   "Your API key does not have permission to use the specified resource."),
    "rate_limit": (429, "rate_limit_error", "Number of requests has exceeded your rate limit."),
    "insufficient_quota": (400, "invalid_request_error",
                           "Your credit balance is too low to access the Anthropic API."),
    "credit": (402, "billing_error", "Your credit balance is too low."),
    "server": (500, "api_error", "Internal server error"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.keys = []
        self.scripts = collections.defaultdict(collections.deque)
        self.requests = []

    def next_step(self, path):
        with self.lock:
            queue = self.scripts.get(path)
            return queue.popleft() if queue else {}


STATE = State()


def estimate_tokens(body):
    """A rough prompt size, used only when a step names no usage."""
    text = json.dumps(body.get("messages", [])) + json.dumps(body.get("system", ""))
    return max(1, len(text) // 4)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-cloud/1"

    def log_message(self, *args):
        pass

    # -- plumbing -------------------------------------------------------------

    def read_json(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def send_json(self, status, payload, headers=None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def write(self, text):
        self.wfile.write(text.encode())
        self.wfile.flush()

    # -- routing --------------------------------------------------------------

    def do_GET(self):
        if self.path == "/_control/requests":
            with STATE.lock:
                self.send_json(200, STATE.requests)
            return
        self.send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = self.read_json()
        if self.path.startswith("/_control/"):
            return self.control(self.path[len("/_control/"):], body or {})
        with STATE.lock:
            STATE.requests.append({
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            })
        if self.path.endswith("/chat/completions"):
            return self.openai(body or {})
        if self.path.endswith("/messages/count_tokens"):
            return self.anthropic_count(body or {})
        if self.path.endswith("/messages"):
            return self.anthropic(body or {})
        self.send_json(404, {"error": {"message": f"no route for {self.path}"}})

    def control(self, verb, body):
        with STATE.lock:
            if verb == "keys":
                STATE.keys = list(body.get("keys", []))
            elif verb == "script":
                STATE.scripts[body["path"]].extend(body.get("steps", []))
            elif verb == "reset":
                STATE.reset()
            else:
                return self.send_json(404, {"error": "unknown control"})
        self.send_json(200, {"ok": True})

    def key_accepted(self, key):
        return bool(key) and (not STATE.keys or key in STATE.keys)

    # -- OpenAI ---------------------------------------------------------------

    def openai(self, body):
        auth = self.headers.get("authorization", "")
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not self.key_accepted(key):
            status, error = ERRORS_OPENAI["invalid_key"]
            error = dict(error, message=error["message"].replace("{key}", key))
            return self.send_json(status, {"error": error})
        step = STATE.next_step(self.path)
        if "status" in step:
            name = step.get("error") or {401: "invalid_key", 402: "credit",
                                         403: "permission", 429: "rate_limit",
                                         503: "overloaded"}.get(step["status"], "server")
            status, error = ERRORS_OPENAI[name]
            headers = {}
            if step.get("retryAfter") is not None:
                headers["retry-after"] = str(step["retryAfter"])
            return self.send_json(step["status"] or status, {"error": error}, headers)

        words = pieces(step.get("text", DEFAULT_TEXT))
        usage = step.get("usage", {})
        model = body.get("model", "unknown")
        self.start_stream()

        def chunk(delta, finish=None, extra=None):
            payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                       "created": int(time.time()), "model": model,
                       "system_fingerprint": "fp_fake", "obfuscation": "x1y2",
                       "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                    "finish_reason": finish}]}
            if usage == "every":
                payload["usage"] = {"prompt_tokens": 10, "completion_tokens": len(sent),
                                    "total_tokens": 10 + len(sent)}
            elif usage != "omit":
                payload["usage"] = None
            payload.update(extra or {})
            self.write(f"data: {json.dumps(payload)}\n\n")

        sent = []
        try:
            if step.get("comments"):
                self.write(": OPENROUTER PROCESSING\n\n")
            chunk({"role": "assistant", "content": "", "refusal": None})
            for index, word in enumerate(words):
                if self.fault_due(step, index):
                    return self.openai_fault(step)
                if step.get("comments") and index % 2:
                    self.write(": keep-alive\n\n")
                sent.append(word)
                chunk({"content": word})
                pause(step)
            if self.fault_due(step, len(words)):
                return self.openai_fault(step)
            chunk({}, finish="stop")
            if usage == "null":
                chunk({}, extra={"choices": []})
            elif usage == "empty":
                chunk({}, extra={"choices": [], "usage": {}})
            elif usage not in ("omit", "every"):
                prompt = usage.get("input", estimate_tokens(body))
                completion = usage.get("output", len(words))
                final = {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion,
                         "prompt_tokens_details": {"cached_tokens": usage.get("cachedInput", 0),
                                                   "audio_tokens": 0},
                         "completion_tokens_details": {"reasoning_tokens": 0}}
                if "cacheWrite" in usage:
                    final["prompt_tokens_details"]["cache_write_tokens"] = usage["cacheWrite"]
                if "cost" in usage:
                    final["cost"] = usage["cost"]
                chunk({}, extra={"choices": [], "usage": final})
            self.write("data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def fault_due(self, step, index):
        return "fault" in step and index == step.get("after", 2)

    def openai_fault(self, step):
        fault = step["fault"]
        if fault == "stall":
            time.sleep(step.get("seconds", 30))
        elif fault == "error_event":
            error = {"message": "The server had an error processing your request.",
                     "type": "server_error", "param": None, "code": None}
            self.write(f"data: {json.dumps({'error': error})}\n\n")
            self.write("data: [DONE]\n\n")
        elif fault == "malformed":
            self.write('data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": \n\n')
        # "drop": nothing more; the connection closes.

    # -- Anthropic ------------------------------------------------------------

    def anthropic_error(self, name, retry_after=None, status=None):
        code, kind, message = ERRORS_ANTHROPIC[name]
        headers = {"request-id": "req_fake"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.send_json(status or code, {"type": "error", "error": {"type": kind,
                                                                   "message": message},
                                        "request_id": "req_fake"}, headers)

    def anthropic_authorised(self):
        if self.headers.get("anthropic-version") != "2023-06-01":
            self.send_json(400, {"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "anthropic-version: header is required"}})
            return False
        if not self.key_accepted(self.headers.get("x-api-key", "")):
            self.anthropic_error("invalid_key")
            return False
        return True

    def anthropic_count(self, body):
        if not self.anthropic_authorised():
            return
        step = STATE.next_step(self.path)
        if "status" in step:
            return self.anthropic_error(step.get("error", "server"), status=step["status"])
        self.send_json(200, {"input_tokens": step.get("input", estimate_tokens(body))})

    def anthropic(self, body):
        if not self.anthropic_authorised():
            return
        step = STATE.next_step(self.path)
        if "status" in step:
            name = step.get("error") or {401: "invalid_key", 402: "credit",
                                         403: "permission", 429: "rate_limit",
                                         529: "overloaded"}.get(step["status"], "server")
            return self.anthropic_error(name, step.get("retryAfter"), step["status"])

        words = pieces(step.get("text", DEFAULT_TEXT))
        usage = step.get("usage", {})
        model = body.get("model", "unknown")
        self.start_stream()

        def event(name, payload):
            self.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n")

        try:
            start_usage = None
            if usage not in ("omit", "null"):
                start_usage = {"input_tokens": usage.get("input", estimate_tokens(body)),
                               "cache_creation_input_tokens": usage.get("cacheWrite", 0),
                               "cache_read_input_tokens": usage.get("cachedInput", 0),
                               "output_tokens": 1, "service_tier": "standard"}
            message = {"id": "msg_fake", "type": "message", "role": "assistant",
                       "content": [], "model": model, "stop_reason": None,
                       "stop_sequence": None}
            if start_usage:
                message["usage"] = start_usage
            event("message_start", {"type": "message_start", "message": message})
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
            self.write('event: ping\ndata: {"type": "ping"}\n\n')
            for index, word in enumerate(words):
                if self.fault_due(step, index):
                    return self.anthropic_fault(step)
                if step.get("comments") and index % 2:
                    self.write(": keep-alive\n\n")
                    self.write('event: ping\ndata: {"type": "ping"}\n\n')
                event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": word}})
                pause(step)
            if self.fault_due(step, len(words)):
                return self.anthropic_fault(step)
            event("content_block_stop", {"type": "content_block_stop", "index": 0})
            delta_usage = {}
            if usage not in ("omit", "null"):
                # Cumulative, as the real service sends it: a second message_delta
                # repeats the totals rather than adding to them.
                delta_usage = {"output_tokens": usage.get("output", len(words))}
                if not start_usage:
                    delta_usage["input_tokens"] = usage.get("input", estimate_tokens(body))
            half = {"output_tokens": max(0, delta_usage.get("output_tokens", 0) // 2)}
            if delta_usage:
                event("message_delta", {"type": "message_delta",
                                        "delta": {"stop_reason": None, "stop_sequence": None},
                                        "usage": half})
            event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                    "usage": delta_usage})
            event("message_stop", {"type": "message_stop"})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def anthropic_fault(self, step):
        fault = step["fault"]
        if fault == "stall":
            time.sleep(step.get("seconds", 30))
        elif fault == "error_event":
            self.write('event: error\ndata: {"type": "error", "error": {"type": '
                       '"overloaded_error", "message": "Overloaded"}}\n\n')
        elif fault == "malformed":
            self.write('event: content_block_delta\ndata: {"type": "content_block_delta", \n\n')


def pieces(text):
    """Splits text into word-sized pieces that join back to it exactly."""
    out, current = [], ""
    for char in text:
        if char == " " and current.strip():
            out.append(current)
            current = ""
        current += char
    if current:
        out.append(current)
    return out


def pause(step):
    if step.get("delayMs"):
        time.sleep(step["delayMs"] / 1000)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
