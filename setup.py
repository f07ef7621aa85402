"""Ships the top-level templates/ and boards/ folders inside the wheel as data packages."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["fpga_flow", "fpga_flow.*"]) + ["fpga_flow._templates", "fpga_flow._boards"],
    package_dir={"fpga_flow._templates": "templates", "fpga_flow._boards": "boards"},
    package_data={"fpga_flow._templates": ["**/*"], "fpga_flow._boards": ["*.json"]},
    include_package_data=False,
)
