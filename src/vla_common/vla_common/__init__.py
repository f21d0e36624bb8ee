"""Shared, mostly ROS-free pieces of the VLA runtime: config loading, the node-set spec, the
process launcher, timing statistics. Modules named ``ros_*`` are the only ones importing rclpy."""
