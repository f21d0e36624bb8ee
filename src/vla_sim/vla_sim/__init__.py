"""vla_sim: MuJoCo simulation bridge (Franka, ALOHA), tasks, scripted experts, demo recorder.

Core modules are ROS-free (``env.SimEnv`` via ``factory.make_env``); ``sim_node`` is the ROS
adapter. See docs/SIM.md.
"""
