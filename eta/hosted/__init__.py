"""Hosted chat models (OpenAI, Anthropic) as policies to sample from, behind eta's sampler protocol.

``model=openai`` / ``model=anthropic`` give the pipeline a :class:`HostedPolicy` in place of a local
model, and a :class:`ChatCodec` in place of its tokenizer: ``build_prompt`` renders a chat prompt through
the codec's ``apply_chat_template`` (the messages as JSON), and ``eta.sample.sample`` hands such prompts
to ``HostedPolicy.sample_prompts``, which sends them through the official SDK and returns the same
``Generation`` objects as the local engine. Sample files, execution, metrics and reports are unchanged.

Nothing here trains, so only methods that do not train the policy's weights can use a hosted model
(``check_run``). Keys come from the environment only (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``).
Importing this package is cheap: the SDKs are imported by the client when it first sends a request.
"""

from eta.hosted.errors import HostedError
from eta.hosted.policy import ChatCodec, HostedPolicy, load_hosted
from eta.hosted.settings import HOSTED_SOURCES, OPERATIONAL_KEYS, check_run, is_hosted

__all__ = ["HOSTED_SOURCES", "OPERATIONAL_KEYS", "ChatCodec", "HostedError", "HostedPolicy", "check_run",
           "is_hosted", "load_hosted"]
