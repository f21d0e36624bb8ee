"""ros2 launch for the VLA stack (needs a ROS 2 distro with launch_ros).

    ros2 launch launch/vla_stack.launch.py robot:=franka mode:=hw
    ros2 launch launch/vla_stack.launch.py robot:=aloha mode:=sim

The node set and the parameter file come from vla_common.stack (config/stack.yaml and
config/<robot>_<mode>.yaml), exactly as the pip-only launcher (vla-launch) reads them.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vla_common.stack import load_stack, params_file


def _nodes(context):
    robot = LaunchConfiguration("robot").perform(context)
    mode = LaunchConfiguration("mode").perform(context)
    config_dir = LaunchConfiguration("config_dir").perform(context) or None
    params = str(params_file(robot, mode, config_dir))
    return [
        Node(package=spec.package, executable=spec.executable, name=spec.name,
             parameters=[params], output="screen", emulate_tty=True,
             respawn=spec.respawn, respawn_delay=spec.respawn_delay_s)
        for spec in load_stack(mode, config_dir)
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="franka", description="franka | aloha"),
        DeclareLaunchArgument("mode", default_value="sim", description="sim | hw | <variant>"),
        DeclareLaunchArgument("config_dir", default_value="", description="override config dir"),
        OpaqueFunction(function=_nodes),
    ])
