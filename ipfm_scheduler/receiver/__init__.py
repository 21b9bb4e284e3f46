"""ipfm-receiver: the program on a loudspeaker cluster's box that plays what it is sent."""
