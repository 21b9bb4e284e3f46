"""Adapters that move bytes: MQTT (paho-mqtt) in :mod:`ipfm_scheduler.transport.mqtt`."""
