"""The app's compose and campaign functions as MCP tools, with descriptions an agent can use."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_compose_and_campaign_are_mcp_tools_with_their_parameters_described(app_url: str) -> None:
    import httpx

    pytest.importorskip("mcp", reason="the MCP server needs the mcp package (requirements.txt)")
    tools = {tool["name"]: tool for tool in httpx.get(f"{app_url}gradio_api/mcp/schema", timeout=60).json()}
    assert {"compose_email", "run_campaign", "segment_customer", "compose_email_for_new_customer"} <= set(tools)
    compose = tools["compose_email"]
    assert "segment's voice" in compose["description"] and "quality check" in compose["description"]
    props = compose["inputSchema"]["properties"]
    assert "customer's ID" in props["customer_id"]["description"] and "variety" in props["temp"]["description"]
    assert "lang_" not in props  # the page's language is session state, not a tool parameter
    campaign = tools["run_campaign"]["inputSchema"]["properties"]
    assert "experiment" in campaign["name"]["description"] and "percent" in campaign["control_pct"]["description"]
