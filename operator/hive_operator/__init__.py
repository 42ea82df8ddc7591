"""The Hive operator: reconciles HiveCluster and HiveBackup resources into runtime pods."""
