"""Dash web app: pages read the warehouse read-only; figures come from figures.py."""
