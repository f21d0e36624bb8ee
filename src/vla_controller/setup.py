from setuptools import find_packages, setup

PACKAGE = "vla_controller"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA ROS maintainers",
    maintainer_email="maintainers@vla-ros.dev",
    description="Inverse kinematics and joint/Cartesian impedance control with Pinocchio",
    license="Apache-2.0",
    entry_points={"console_scripts": ['controller_node = vla_controller.controller_node:main',]},
)
