"""Archives written into directories we do not trust, shared by containerd (a layer's apply, a
container's rootfs), the engine (``cp`` into volumes and bind mounts) and volumes (copy-up):
``safe_extract``. Pure routines over file descriptors: this package imports nothing of the
engine, containerd, the runtime or the clients."""
