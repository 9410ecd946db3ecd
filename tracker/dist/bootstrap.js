/* placeholder until the tracker build lands */(function(){var c="__SIGHTLINE_CONFIG__";})();
