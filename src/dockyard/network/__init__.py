"""Container networking: IPAM, bridge driver (netns, veth), nftables rules, embedded DNS, /etc files.

The engine calls :class:`dockyard.network.manager.NetworkManager`; nothing here
imports the engine (containers are passed in as their Docker records).
"""
