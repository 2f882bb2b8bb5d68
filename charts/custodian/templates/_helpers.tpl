{{/* Names, labels and the derived values every template shares. */}}

{{- define "custodian.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-custodian", or the release name alone when it already contains the chart name. */}}
{{- define "custodian.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "custodian.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "custodian.selectorLabels" -}}
app.kubernetes.io/name: {{ include "custodian.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "custodian.labels" -}}
helm.sh/chart: {{ include "custodian.chart" . }}
{{ include "custodian.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: custodian
{{- end }}

{{/* The server pods' selector labels: the migration Job's pods must not match them. */}}
{{- define "custodian.serverSelectorLabels" -}}
{{ include "custodian.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "custodian.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "custodian.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "custodian.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The port of config.server.listenAddr ("0.0.0.0:50051", "[::]:50051"): container port and probe port. */}}
{{- define "custodian.grpcPort" -}}
{{- $port := splitList ":" (toString .Values.config.server.listenAddr) | last }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- fail (printf "config.server.listenAddr must be HOST:PORT, e.g. 0.0.0.0:50051 (got %q)" (toString .Values.config.server.listenAddr)) }}
{{- end }}
{{- $port }}
{{- end }}

{{- define "custodian.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (int .Values.lifecycle.preStopSleepSeconds) (int .Values.config.server.shutdownGracePeriodSecs) 5 }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The Secret the chart creates for the secret settings not taken from an existingSecret. */}}
{{- define "custodian.secretName" -}}
{{- include "custodian.fullname" . }}
{{- end }}

{{- define "custodian.createsSecret" -}}
{{- if or (not .Values.secrets.database.existingSecret) (not .Values.secrets.s3.existingSecret) (not .Values.auth.existingSecret) }}true{{- end }}
{{- end }}

{{/*
Where the server finds the token-verification key and the access policy: each a directory
mount (not subPath, so that the kubelet updates the file in place when its ConfigMap or Secret
changes) holding one file of a fixed name.
*/}}
{{- define "custodian.publicKeyDir" -}}/etc/custodian/keys{{- end }}
{{- define "custodian.publicKeyFile" -}}{{ include "custodian.publicKeyDir" . }}/token.pub.pem{{- end }}
{{- define "custodian.policyDir" -}}/etc/custodian/policy{{- end }}
{{- define "custodian.policyFile" -}}{{ include "custodian.policyDir" . }}/policy.toml{{- end }}

{{/* The ConfigMaps the chart renders for auth.publicKey and for the policy. */}}
{{- define "custodian.publicKeyConfigMapName" -}}
{{- include "custodian.fullname" . }}-token-key
{{- end }}
{{- define "custodian.policyConfigMapName" -}}
{{- include "custodian.fullname" . }}-policy
{{- end }}

{{/* The policy the chart ships: auth.policy, else files/policy.toml (a copy of config/policy.toml). */}}
{{- define "custodian.policy" -}}
{{- if .Values.auth.policy }}
{{- .Values.auth.policy }}
{{- else }}
{{- .Files.Get "files/policy.toml" }}
{{- end }}
{{- end }}

{{/* The auth file volumes of the server pods. */}}
{{- define "custodian.authVolumes" -}}
{{- $a := .Values.auth -}}
- name: token-key
  {{- if $a.existingPublicKeySecret }}
  secret:
    secretName: {{ $a.existingPublicKeySecret }}
    items:
      - key: {{ $a.publicKeyKey }}
        path: token.pub.pem
  {{- else }}
  configMap:
    name: {{ default (include "custodian.publicKeyConfigMapName" .) $a.existingPublicKeyConfigMap }}
    items:
      - key: {{ ternary $a.publicKeyKey "token.pub.pem" (ne $a.existingPublicKeyConfigMap "") }}
        path: token.pub.pem
  {{- end }}
- name: policy
  configMap:
    name: {{ default (include "custodian.policyConfigMapName" .) $a.existingPolicyConfigMap }}
    items:
      - key: {{ ternary $a.policyKey "policy.toml" (ne $a.existingPolicyConfigMap "") }}
        path: policy.toml
{{- end }}

{{- define "custodian.authVolumeMounts" -}}
- name: token-key
  mountPath: {{ include "custodian.publicKeyDir" . }}
  readOnly: true
- name: policy
  mountPath: {{ include "custodian.policyDir" . }}
  readOnly: true
{{- end }}

{{/* The auth file settings: the mounted files. */}}
{{- define "custodian.authFileEnv" -}}
- name: CUSTODIAN_AUTH__PUBLIC_KEY_FILE
  value: {{ include "custodian.publicKeyFile" . | quote }}
- name: CUSTODIAN_AUTH__POLICY_FILE
  value: {{ include "custodian.policyFile" . | quote }}
{{- end }}

{{/* Fails early, naming every value to set, instead of pods that crash on invalid settings. */}}
{{- define "custodian.validate" -}}
{{- $problems := list }}
{{- if and .Values.tls.clientCaSecretName (not .Values.tls.secretName) }}
{{- $problems = append $problems "tls.clientCaSecretName needs tls.secretName: mutual TLS is TLS first" }}
{{- end }}
{{- if and .Values.tls.secretName (eq (int .Values.tls.probePort) (include "custodian.grpcPort" . | int)) }}
{{- $problems = append $problems "tls.probePort must differ from the gRPC port" }}
{{- end }}
{{- if ne (toString .Values.config.objectStore.kind) "s3" }}
{{- $problems = append $problems "config.objectStore.kind must be s3: the replicas share one object store (a local directory would give every pod its own pages)" }}
{{- end }}
{{- if not .Values.config.objectStore.s3.bucket }}
{{- $problems = append $problems "set config.objectStore.s3.bucket (the bucket of the page images)" }}
{{- end }}
{{- if and (not .Values.secrets.database.existingSecret) (not .Values.secrets.database.url) }}
{{- $problems = append $problems "set secrets.database.existingSecret (a Secret holding the PostgreSQL URL) or secrets.database.url" }}
{{- end }}
{{- if and (not .Values.secrets.s3.existingSecret) (or (not .Values.secrets.s3.accessKeyId) (not .Values.secrets.s3.secretAccessKey)) }}
{{- $problems = append $problems "set secrets.s3.existingSecret (a Secret holding the S3 credentials) or both secrets.s3.accessKeyId and secrets.s3.secretAccessKey" }}
{{- end }}
{{- $a := .Values.auth }}
{{- if and (not $a.existingSecret) (not $a.auditChainKey) }}
{{- $problems = append $problems "set auth.existingSecret (a Secret holding the audit chain key) or auth.auditChainKey: the HMAC key of the tamper-evident audit trail, the same on every replica and never changed (older events no longer verify under another key); e.g. openssl rand -hex 32" }}
{{- end }}
{{- if and (not $a.existingSecret) $a.auditChainKey (not (kindIs "string" $a.auditChainKey)) }}
{{- $problems = append $problems "auth.auditChainKey must be a string, exactly as generated: quote it in YAML, or use --set-string (a number would lose leading zeros and change the key)" }}
{{- end }}
{{- $keySources := 0 }}
{{- range (list $a.publicKey $a.existingPublicKeyConfigMap $a.existingPublicKeySecret) }}
{{- if . }}{{ $keySources = add1 $keySources }}{{ end }}
{{- end }}
{{- if eq $keySources 0 }}
{{- $problems = append $problems "set auth.publicKey (the PEM public key tokens are verified with), or auth.existingPublicKeyConfigMap or auth.existingPublicKeySecret (+ auth.publicKeyKey)" }}
{{- else if gt $keySources 1 }}
{{- $problems = append $problems "set only one of auth.publicKey, auth.existingPublicKeyConfigMap and auth.existingPublicKeySecret" }}
{{- end }}
{{- if and $a.policy $a.existingPolicyConfigMap }}
{{- $problems = append $problems "set only one of auth.policy and auth.existingPolicyConfigMap (neither: the chart's files/policy.toml)" }}
{{- end }}
{{- if and (not $a.policy) (not $a.existingPolicyConfigMap) (not (.Files.Get "files/policy.toml")) }}
{{- $problems = append $problems "the chart lacks files/policy.toml (copy config/policy.toml), or set auth.policy or auth.existingPolicyConfigMap" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) }}
{{- $problems = append $problems "autoscaling on CPU needs resources.requests.cpu" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- $problems = append $problems "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- $problems = append $problems "podDisruptionBudget: set either minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if $problems }}
{{- fail (printf "\n- %s" (join "\n- " $problems)) }}
{{- end }}
{{- end }}

{{/*
CUSTODIAN_DATABASE__URL as a container env entry. Called with (dict "root" $ "secret" NAME):
NAME is the chart's Secret to read from when secrets.database.existingSecret is not set.
*/}}
{{- define "custodian.databaseUrlEnv" -}}
{{- $db := .root.Values.secrets.database -}}
- name: CUSTODIAN_DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ default .secret $db.existingSecret }}
      key: {{ ternary $db.urlKey "database-url" (ne $db.existingSecret "") }}
{{- end }}

{{/*
CUSTODIAN_AUTH__AUDIT_CHAIN_KEY as a container env entry. Called with (dict "root" $ "secret"
NAME): NAME is the chart's Secret to read from when auth.existingSecret is not set.
*/}}
{{- define "custodian.auditChainKeyEnv" -}}
{{- $a := .root.Values.auth -}}
- name: CUSTODIAN_AUTH__AUDIT_CHAIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default .secret $a.existingSecret }}
      key: {{ ternary $a.auditChainKeyKey "audit-chain-key" (ne $a.existingSecret "") }}
{{- end }}

{{/*
CUSTODIAN_AUTH__IDENTIFIER_KEY as a container env entry, when there is one: from
auth.existingSecret (optional there) or the chart's Secret NAME.
*/}}
{{- define "custodian.identifierKeyEnv" -}}
{{- $a := .root.Values.auth -}}
{{- if or $a.existingSecret $a.identifierKey }}
- name: CUSTODIAN_AUTH__IDENTIFIER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ default .secret $a.existingSecret }}
      key: {{ ternary $a.identifierKeyKey "identifier-key" (ne $a.existingSecret "") }}
      optional: {{ ne $a.existingSecret "" }}
{{- end }}
{{- end }}

{{/* The S3 credentials as container env entries. */}}
{{- define "custodian.s3CredentialsEnv" -}}
{{- $s3 := .Values.secrets.s3 }}
{{- $name := default (include "custodian.secretName" .) $s3.existingSecret -}}
- name: CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ ternary $s3.accessKeyIdKey "s3-access-key-id" (ne $s3.existingSecret "") }}
- name: CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ ternary $s3.secretAccessKeyKey "s3-secret-access-key" (ne $s3.existingSecret "") }}
{{- end }}

{{/* Spread over nodes plus the user's constraints, each with the server pods' selector. */}}
{{- define "custodian.topologySpreadConstraints" -}}
{{- $constraints := list }}
{{- if .Values.spreadOverNodes }}
{{- $constraints = append $constraints (dict "maxSkew" 1 "topologyKey" "kubernetes.io/hostname" "whenUnsatisfiable" "ScheduleAnyway") }}
{{- end }}
{{- range .Values.topologySpreadConstraints }}
{{- $constraints = append $constraints . }}
{{- end }}
{{- $selector := dict "labelSelector" (dict "matchLabels" (include "custodian.serverSelectorLabels" $ | fromYaml)) }}
{{- $out := list }}
{{- range $constraints }}
{{- $out = append $out (merge (deepCopy .) $selector) }}
{{- end }}
{{- if $out }}
{{- toYaml $out }}
{{- end }}
{{- end }}
