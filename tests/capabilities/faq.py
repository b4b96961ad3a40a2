"""The prose of Keap's API FAQ (developer.infusionsoft.com/faqs) that this project began from.

Kept only so tests can prove the notes cover every item and never copy its sentences.
"""

import re

# FAQ question -> the note that answers it.
FAQ_ITEMS: dict[str, str] = {
    "How Do I Refund an Order Through the API?": "refunds",
    "How do I access a contact's Email History?": "email_history",
    "Can I access the Campaign Builder with the API?": "campaign_builder",
    "What is OAuth 2.0?": "oauth_api_keys",
    "Can I use an API Key?": "oauth_api_keys",
    "What is the REST API?": "rest_api",
    "How does throttling work?": "throttling",
    "How do I get an Infusionsoft Account to test on?": "sandbox_accounts",
    "How do I test out the API?": "sandbox_accounts",
}

FAQ_TEXT = """
These FAQs are specific to the API and not to the Infusionsoft interface.
How Do I Refund an Order Through the API?
It is currently not possible to issue a refund via the API.
How do I access a contact's Email History?
The tables that store the email history are not available to the API however there are some saved
searches that allow you to access parts of the email history
Can I access the Campaign Builder with the API?
Currently you can only complete a goal in a campaign using the FunnelService
What is OAuth 2.0?
OAuth 2.0 future-proofs your app and yields a number of benefits, which are explained below.
OAuth 2.0 API Access - This is the standard authentication method for Infusionsoft apps.
OAuth 2.0 is the standard used by most modern APIs including Facebook, Google, Stripe, Shopify and
countless others. OAuth will provide a streamlined authentication process for our customers, allow
customers to view/revoke access for specific apps/integrations and provide developers with a
simplified authentication method as well as more metrics about the applications you create.
By using OAuth 2.0, your apps are throttle independently of one another. When you use OAuth, your
apps are throttled at the application level and we are able to modify this throttle on a per app or
per developer basis. To accomplish this we are using an API Proxy service that, in addition to
providing fine-grained throttling controls, also offers robust reporting tools for API usage.
Read more about using OAuth2 with Infusionsoft in our documentation.
If you haven't done so already, register with the Developer Center to create API keys for your apps.
Can I use an API Key?
Infusionsoft uses OAuth 2.0 as the authentication standard for the API and is a requirement for all
marketplace listings.
What is the REST API?
Or REST API is based on industry-standard RESTful principles allowing you to make half as many API
calls as you were with the XML-RPC API.
The new REST endpoints are available through the existing OAuth 2.0 authentication.
Many of the endpoints support a new Sync token feature that makes it easier for your application to
keep data in sync with your users' Infusionsoft Applications.
How does throttling work?
The way throttling works depends on which authentication method you are using.
You are limited to a total of 125,000 api calls per day (25 calls per second max) across all
Infusionsoft applications you are sending data to.
The throttling system is setup like a bank account. You have so many dollars (will be called tokens)
in that account you can use. Every Infusionsoft Application has a bank of 10,000 tokens. For every
API call that is made, 1 token gets removed from that bank. However, for every 500ms that there is
not an API call, you get one token back in the bank, up to the max of 10,000 tokens.
When you run out of tokens, your API call gets delayed 500ms until you get a new token. For
instance, you are out of tokens and you have 4 API calls come in at the same time. The first one
will be delayed 500ms, the next one 1 second then 1.5 seconds and finally 2 seconds.
Once you hit 4 threads being throttled, you will then start to receive an error stating you have
been throttled. The only way to become un-throttled is to cease all API calls. It takes
approximately 1.5 hours of no API calls to regenerate all 10,000 tokens.
How do I get an Infusionsoft Account to test on?
We have free sandbox accounts for developers here
How do I test out the API?
The easiest way to test out the API is to create a developer account and sandbox application then
use the interactive API docs
"""


def normalize(text: str) -> str:
    """Lower case, curly quotes made straight, runs of whitespace made one space."""
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip().casefold()


def sentences() -> list[str]:
    """The FAQ's sentences (and question lines) of at least six words, normalized."""
    flat = normalize(FAQ_TEXT.replace("?\n", "?. ").replace("\n", " "))
    parts = re.split(r"(?<=[.?!])\s+", flat)
    return [p.rstrip(". ") for p in parts if len(p.split()) >= 6]


def word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    """Every run of n consecutive words (punctuation dropped) in the text."""
    words = re.findall(r"[a-z0-9']+", normalize(text))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
