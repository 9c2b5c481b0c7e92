"""The monitoring job: drift, volume and realised performance of the champion."""
