"""Rosbag2 (MCAP) recording, playback, re-run and dataset conversion for the VLA stack.

Core modules here are ROS-free (rosbags typestore + the ``mcap`` library); only
``*_node.py`` files import rclpy.
"""
