"""The Keap sandbox: a separate process that plays Keap's OAuth server and REST API.

It is built from `docs/keap/API.md` and Keap's OpenAPI documents alone and shares no code with
Onramp's Keap client (`webapp.keap`), in either direction, so a misreading of Keap in one cannot
hide in the other. It runs with its own settings (`webapp.sandbox.settings`) and its own database.
"""
