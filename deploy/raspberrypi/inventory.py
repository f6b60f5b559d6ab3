"""The centre's fristed nodes: one line per box, with what differs between them.

Run the deploy for all of them, or one (--limit fristed-01.local):
    pyinfra inventory.py deploy.py --use-sudo-password
"""

nodes = (
    [
        ("fristed-01.local", {"node_name": "fristed-01"}),
        # A second node: copy the line, change the host and name, and give it its own backup directory.
        # ("fristed-02.local", {"node_name": "fristed-02", "backup_target": "/var/backups/fristed"}),
    ],
    {
        # How pyinfra reaches the boxes: the key-only admin account made at first boot, with sudo.
        "ssh_user": "itadmin",
        "_sudo": True,
    },
)
